"""The documentation stays true: its examples run, its pictures exist and are what docs/figures.py makes."""

from __future__ import annotations

import ast
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
    for page in ("index.md", "dataset.md", "renderer.md", "cli.md", "api/index.md", "hub.md", "evaluation.md"):
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


def _docstrings() -> list[tuple[str, int, str]]:
    """(file, line, text) of every module, class and function docstring of the package."""
    found = []
    for path in sorted((ROOT / "spirograph").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                text = ast.get_docstring(node, clean=False)
                if text:
                    found.append((str(path.relative_to(ROOT)), getattr(node, "lineno", 1), text))
    return found


LEAKS = {
    "a Sphinx role (use [`name`][full.path] or backticks)": re.compile(
        r":(?:py:)?(?:class|func|meth|attr|data|mod|exc|obj|const|ref|doc):`"
    ),
    "a reStructuredText directive (use a fenced block or $$ maths)": re.compile(r"^\s*\.\. [a-z-]+::", re.MULTILINE),
    "an `Example:` section (the generator knows `Examples:`)": re.compile(r"^\s*Example:\s*$", re.MULTILINE),
    "parameters documented together (one entry each)": re.compile(
        r"^\s+(?:``)?[a-z_][a-z0-9_]*(?:``)?(?:, (?:``)?[a-z_][a-z0-9_]*(?:``)?)+: ", re.MULTILINE
    ),
}


def test_docstrings_have_no_sphinx_leftovers() -> None:
    docstrings = _docstrings()
    assert len(docstrings) > 100
    problems = [
        f"{path}:{line}: {what}: {match.group(0).strip()!r}"
        for path, line, text in docstrings
        for what, pattern in LEAKS.items()
        for match in pattern.finditer(text)
    ]
    assert problems == []


@pytest.mark.parametrize(
    "text",
    [
        "See :class:`torch.Generator`.",
        "Uses :func:`~spirograph.render`.",
        "Maths:\n\n.. code-block:: text\n\n    x = 1\n",
        "Example:\n    >>> 1\n",
        "Args:\n    size, normalize: renderer settings.\n",
    ],
)
def test_the_leak_check_catches_each_kind(text: str) -> None:
    assert any(pattern.search(text) for pattern in LEAKS.values())


def test_every_module_has_an_api_page() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = {path.stem: path.read_text(encoding="utf-8") for path in (DOCS / "api").glob("*.md")}
    modules = sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in (ROOT / "spirograph").rglob("*.py")
        if not any(part.startswith("_") and part != "__init__.py" for part in path.relative_to(ROOT).parts)
    )
    for module in modules:
        if module == "spirograph":
            continue  # the package re-exports names documented on their modules' pages
        stem = module.removeprefix("spirograph.")
        assert stem in pages, f"{module} has no page docs/api/{stem}.md"
        assert f"::: {module}\n" in pages[stem]
        assert f"api/{stem}.md" in config, f"docs/api/{stem}.md is not in the nav"


def test_katex_is_served_by_the_site() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert "pymdownx.arithmatex" in config and "generic: true" in config
    for asset in ("vendor/katex/katex.min.js", "vendor/katex/contrib/auto-render.min.js", "vendor/katex/katex.min.css"):
        assert asset in config and (DOCS / asset).is_file(), asset
    assert "http" not in config.split("extra_javascript:")[1].split("markdown_extensions:")[0]
    assert "MIT" in (DOCS / "vendor" / "katex" / "LICENSE").read_text(encoding="utf-8")
    css = (DOCS / "vendor" / "katex" / "katex.min.css").read_text(encoding="utf-8")
    for font in sorted(set(re.findall(r"url\((fonts/[^)]+\.woff2)\)", css))):
        assert (DOCS / "vendor" / "katex" / font).is_file(), font
