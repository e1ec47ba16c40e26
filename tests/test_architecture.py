"""The shape of the package: short functions, no upward imports, scripts on the public API."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "spirograph"
SCRIPTS = [*sorted((ROOT / "baselines").glob("*.py")), *sorted((ROOT / "benchmarks").glob("*.py"))]
LIMIT = 60


def code_lines(source: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function that hold code: no blank lines, comments or docstring."""
    skip: set[int] = set()
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        skip = set(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    lines = range(node.lineno, (node.end_lineno or node.lineno) + 1)
    return sum(
        1 for n in lines if n not in skip and source[n - 1].strip() and not source[n - 1].strip().startswith("#")
    )


def test_code_lines_counts_only_code() -> None:
    text = 'def f():\n    """Doc.\n\n    More.\n    """\n    # why\n    x = 1\n\n    return x\n'
    (node,) = ast.parse(text).body
    assert isinstance(node, ast.FunctionDef)
    assert code_lines(text.splitlines(), node) == 3  # def, x = 1, return


def test_no_library_function_is_over_the_limit() -> None:
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                count = code_lines(text.splitlines(), node)
                if count > LIMIT:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({count} lines)")
    assert long == []


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_scripts_use_only_the_public_api(script: Path) -> None:
    private = []
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("spirograph"):
            parts = node.module.split(".")
            names = [alias.name for alias in node.names]
            hidden = [name for name in names if name.startswith("_") and not name.startswith("__")]
            if any(part.startswith("_") for part in parts) or hidden:
                private.append(f"from {node.module} import {', '.join(names)}")
        elif isinstance(node, ast.Import):
            private += [alias.name for alias in node.names if any(p.startswith("_") for p in alias.name.split("."))]
    assert private == []
