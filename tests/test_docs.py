"""The documentation stays true: its examples run, its pictures exist and are what docs/figures.py makes."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = ["index.md", "dataset.md", "renderer.md"]


def _python_blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(encoding="utf-8"), flags=re.DOTALL)


@pytest.mark.parametrize("page", PAGES)
def test_python_examples_run(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = _python_blocks(page)
    assert blocks, f"{page} has no python example"
    monkeypatch.chdir(tmp_path)
    for number, block in enumerate(blocks):
        exec(compile(block, f"{page} example {number}", "exec"), {"__name__": "__docs__"})


def test_every_picture_exists() -> None:
    pages = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]
    referenced = set()
    for page in pages:
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text(encoding="utf-8")):
            base = ROOT if page.name == "README.md" else DOCS
            assert (base / target).is_file(), f"{page.name} shows {target}, which does not exist"
            referenced.add((base / target).resolve())
    assert (DOCS / "assets" / "banner.png").resolve() in referenced


def test_nav_lists_every_page() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = re.findall(r"^\s+- [^:]+: (\S+\.md)$", config, flags=re.MULTILINE)
    for page in ("index.md", "dataset.md", "renderer.md", "cli.md", "api.md", "hub.md", "evaluation.md"):
        assert page in nav
    for page in DOCS.glob("*.md"):
        assert page.name in nav, f"{page.name} is not in the nav"


def test_committed_figures_are_what_the_script_makes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("docs_figures", DOCS / "figures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["docs_figures"] = module
    try:
        spec.loader.exec_module(module)
        assert module.main(["--out", str(tmp_path)]) == 0
    finally:
        del sys.modules["docs_figures"]
    made = sorted(p.name for p in tmp_path.iterdir())
    assert made == sorted(p.name for p in (DOCS / "assets").iterdir())
    for name in made:
        with Image.open(tmp_path / name) as fresh, Image.open(DOCS / "assets" / name) as committed:
            assert fresh.size == committed.size, name
            assert getattr(fresh, "n_frames", 1) == getattr(committed, "n_frames", 1), name
            # Another CPU may round a float32 pixel the other way: allow off-by-one bytes, and very few of them.
            difference = np.abs(
                np.asarray(fresh.convert("RGB"), dtype=np.int16) - np.asarray(committed.convert("RGB"), dtype=np.int16)
            )
            assert (difference > 1).mean() < 1e-3, f"{name} is stale: run `python docs/figures.py`"
