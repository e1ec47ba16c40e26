"""``python -m spirograph``: the same as the ``spirograph`` command."""

from __future__ import annotations

from spirograph.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
