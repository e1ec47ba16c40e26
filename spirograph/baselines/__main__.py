"""``python -m spirograph.baselines CONFIG.json``: train from a configuration file (also under torchrun)."""

from __future__ import annotations

import sys

from spirograph.baselines.train import main

if __name__ == "__main__":
    sys.exit(main())
