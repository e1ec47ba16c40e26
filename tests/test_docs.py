"""The documentation stays true: its examples run, its pictures exist and are what docs/figures.py makes."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
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
    # The studies' figures are made by `baselines/study.py` from the result files, not by this script.
    assert made == sorted(p.name for p in (DOCS / "assets").iterdir() if not p.name.startswith("study-"))
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
    "a reStructuredText literal block (use a fenced code block)": re.compile(r"\S::[ \t]*$", re.MULTILINE),
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
        "Run it with::\n\n    python -m spirograph.baselines config.json\n",
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


# ---------------------------------------------------------------------------------- the built site
# Elements whose text is not prose: code, scripts, and the maths arithmatex hands to KaTeX.
_NOT_PROSE = {"code", "pre", "script", "style", "textarea", "svg"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_TEX_LEFTOVERS = {
    "a $$ display block": re.compile(r"\$\$"),
    "a \\( or \\[ delimiter": re.compile(r"\\[(\[]"),
    "a TeX command": re.compile(r"\\[A-Za-z]{2,}"),
    "inline $...$ maths": re.compile(r"\$[^$\s][^$]*?[\\^_{}][^$]*?\$"),
    "a reST literal (``name``)": re.compile(r"``"),
}


class _PageText(HTMLParser):
    """The prose of a page (outside code and maths), and any markup found inside maths."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.prose: list[str] = []
        self.markup_in_maths: list[str] = []
        self._stack: list[tuple[str, bool, bool]] = []  # (tag, hides prose, is maths)

    def _hidden(self) -> bool:
        return any(hides for _, hides, _ in self._stack)

    def _in_maths(self) -> bool:
        return any(maths for _, _, maths in self._stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._in_maths():
            self.markup_in_maths.append(f"<{tag}>")
        if tag in _VOID:
            return
        maths = "arithmatex" in (dict(attrs).get("class") or "").split()
        self._stack.append((tag, tag in _NOT_PROSE or maths, maths))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self._stack) - 1, -1, -1):
            if self._stack[depth][0] == tag:
                del self._stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        if not self._hidden():
            self.prose.append(data)


def _tex_problems(html: str) -> list[str]:
    """What a reader would see of unrendered TeX (or reST) in a built page."""
    page = _PageText()
    page.feed(html)
    prose = " ".join(page.prose)
    problems = [
        f"{what}: {match.group(0)!r}" for what, pattern in _TEX_LEFTOVERS.items() for match in pattern.finditer(prose)
    ]
    problems += [f"markup inside maths: {tag}" for tag in page.markup_in_maths]
    return problems


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.slow
def test_the_built_site_shows_no_unrendered_tex(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 30
    problems = [f"{page.relative_to(site)}: {problem}" for page in pages for problem in _tex_problems(page.read_text())]
    assert problems == []
    # The maths is there for KaTeX to render: the renderer page's equations reached the page whole.
    renderer = (site / "renderer" / "index.html").read_text()
    assert renderer.count('class="arithmatex"') >= 10 and "\\begin{aligned}" in renderer


@pytest.mark.slow
def test_the_public_api_pages_name_no_private_module(site: Path) -> None:
    private = sorted(
        path.stem for path in (ROOT / "spirograph").rglob("_*.py") if path.stem not in ("__init__", "__main__")
    )
    assert "_records" in private
    for page in sorted((site / "api").rglob("*.html")):
        text = _PageText()
        text.feed(page.read_text())
        prose = " ".join(text.prose)
        for name in private:
            assert not re.search(rf"(?<![\w.]){name}\b", prose), f"{page.relative_to(site)} names {name}"


@pytest.mark.parametrize(
    "html",
    [
        # A $$ block inside a list item that Markdown did not hand to arithmatex (the old evaluation page).
        "<p>$$\n  \\mathrm{CV} = \\mathbb{E}<em>{l}\\, \\mathbb{E}</em>\n$$</p>",
        '<p>the share <span class="arithmatex">\\(\\sum_d <em>x</em>\\)</span></p>',
        "<p>inline $\\sigma_k$ left as typed</p>",
        "<p>a \\(l\\) delimiter in prose</p>",
        "<p>YAML ``configs:`` from a docstring</p>",
    ],
)
def test_the_tex_check_catches_each_kind(html: str) -> None:
    assert _tex_problems(html)


def test_the_tex_check_passes_rendered_maths_and_code() -> None:
    html = (
        '<p>a vector <span class="arithmatex">\\(l\\)</span> and</p><div class="arithmatex">\\[\\sum_k x_k\\]</div>'
        '<pre><code>price = "$$"  # \\n and ``x``</code></pre><p>costs $5 and $6</p><br><p>done</p>'
    )
    assert _tex_problems(html) == []


def test_api_pages_open_with_the_module_docstring_alone() -> None:
    # The module docstring's first line is the summary; a hand-written line above it repeats it.
    for page in sorted((DOCS / "api").glob("*.md")):
        if page.name == "index.md":
            continue
        text = page.read_text(encoding="utf-8")
        assert re.match(r"# [^\n]+\n\n::: spirograph", text), f"{page.name} has text between its title and :::"


def test_the_normalisation_labels_are_legible_at_page_width() -> None:
    # The page column is about 690 px wide in a 1280 px window; the figure is shrunk to it.
    with Image.open(DOCS / "assets" / "normalisation.png") as picture:
        gray = np.asarray(picture.convert("L"))
    first_image = int(np.argmax((gray < 250).mean(axis=0) > 0.5))  # the label margin ends here
    dark_rows = (gray[:, :first_image] < 128).any(axis=1)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], dark_rows.astype(int), [0]])))
    heights = edges[1::2] - edges[::2]  # one run of dark rows per label
    assert len(heights) == 2, heights
    shown = heights * min(1.0, 690 / gray.shape[1])
    assert shown.min() >= 12, f"labels {shown} px tall at page width"


def test_the_pages_agree_that_no_hub_copy_is_published() -> None:
    # Until one is, every page that mentions a Hub copy says none is published.
    for page in (ROOT / "README.md", DOCS / "index.md", DOCS / "hub.md"):
        text = " ".join(page.read_text(encoding="utf-8").split()).lower()
        assert "hugging face hub" in text, page.name
        assert "no official copy is published yet" in text, page.name
