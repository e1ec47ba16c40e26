"""The shape of the package: short functions, no upward imports, scripts on the public API."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
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


# ---------------------------------------------------------------- the hub builds on the dataset
HUB = "spirograph.hub"
OUTSIDE_HUB = sorted(
    path for path in PACKAGE.rglob("*.py") if (PACKAGE / "hub") not in path.parents and path != PACKAGE / "cli.py"
)


def _package_of(path: Path) -> str:
    """The package a relative import in ``path`` starts from (the package itself for an ``__init__.py``)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1])


def hub_references(text: str, package: str) -> list[str]:
    """Every import of, attribute path to, or string naming ``spirograph.hub`` in a module's source."""
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            source = ".".join([*base, *([node.module] if node.module else [])])
            names = [source, *(f"{source}.{alias.name}" for alias in node.names)]
            found += [f"line {node.lineno}: from {source} import ..." for name in names if _is_hub(name)][:1]
        elif isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {alias.name}" for alias in node.names if _is_hub(alias.name)]
        elif isinstance(node, ast.Attribute) and _is_hub(_dotted(node) or ""):
            found.append(f"line {node.lineno}: {_dotted(node)}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and HUB in node.value:
            found.append(f"line {node.lineno}: the string {node.value[:60]!r}")
    return found


def _is_hub(name: str) -> bool:
    return name == HUB or name.startswith(HUB + ".")


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


@pytest.mark.parametrize(
    "text",
    [
        "from spirograph.hub.download import load_split\n",
        "from spirograph.hub import load_local\n",
        "from spirograph import hub\n",
        "import spirograph.hub.local\n",
        "from .hub import export\n",
        "from . import hub\n",
        "import spirograph\nspirograph.hub.export\n",
        "import importlib\nimportlib.import_module('spirograph.hub.download')\n",
    ],
)
def test_the_hub_check_catches_each_kind(text: str) -> None:
    assert hub_references(text, "spirograph") != []


def test_the_hub_check_passes_other_code() -> None:
    text = "from spirograph import render\nfrom .space import ParameterSpace\nhub = 'the hub copy'\n"
    assert hub_references(text, "spirograph") == []


def test_no_module_below_the_hub_names_it() -> None:
    assert PACKAGE / "dataset.py" in OUTSIDE_HUB
    found = [
        f"{path.relative_to(ROOT)} {where}"
        for path in OUTSIDE_HUB
        for where in hub_references(path.read_text(), _package_of(path))
    ]
    assert found == []


def test_importing_the_dataset_loads_no_hub_module() -> None:
    code = (
        "import sys\n"
        "import spirograph.dataset\n"
        "from spirograph import Spirograph\n"
        "Spirograph('test', subset=2)[0]\n"
        "print(sorted(name for name in sys.modules if name.split('.')[:2] == ['spirograph', 'hub']))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip() == "[]"


# ---------------------------------------------------------------- the training modules are layers
# Each module of the training code imports only the ones listed before it in this order.
TRAINING_LAYERS = ["config", "model", "distributed", "checkpoints", "train"]


def package_imports(text: str, package: str) -> set[str]:
    """Every ``spirograph`` module a module's source imports, at any depth of its code.

    ``from a.b import c`` counts as ``a.b`` and ``a.b.c`` (``c`` may be a module).
    """
    found = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            source = ".".join([*base, *([node.module] if node.module else [])])
            if source.split(".")[0] == "spirograph":
                found |= {source, *(f"{source}.{alias.name}" for alias in node.names)}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "spirograph"}
    return found


@pytest.mark.parametrize(
    "text",
    [
        "from spirograph.baselines.train import train\n",
        "from spirograph.baselines import train\n",
        "from . import train\n",
        "from .train import main\n",
        "import spirograph.baselines.train\n",
        "def f():\n    from spirograph.baselines.train import train\n",
    ],
)
def test_the_import_check_catches_each_kind(text: str) -> None:
    assert "spirograph.baselines.train" in package_imports(text, "spirograph.baselines")


def test_the_import_check_passes_other_imports() -> None:
    text = "import torch\nfrom spirograph.errors import ConfigError\nfrom . import config\n"
    assert package_imports(text, "spirograph.baselines") == {
        "spirograph.errors",
        "spirograph.errors.ConfigError",
        "spirograph.baselines",
        "spirograph.baselines.config",
    }


def test_the_training_modules_import_no_later_layer() -> None:
    upward = []
    for index, name in enumerate(TRAINING_LAYERS):
        later = {f"spirograph.baselines.{other}" for other in TRAINING_LAYERS[index + 1 :]}
        path = PACKAGE / "baselines" / f"{name}.py"
        upward += [
            f"{name} imports {module}" for module in package_imports(path.read_text(), _package_of(path)) & later
        ]
    assert upward == []


def test_the_checks_import_nothing_of_the_package_but_the_errors() -> None:
    # Every module of the package uses `_checks`; an import of another module there is a circle.
    path = PACKAGE / "_checks.py"
    imported = package_imports(path.read_text(), _package_of(path))
    assert "spirograph.errors" in imported
    assert sorted(m for m in imported if m != "spirograph.errors" and not m.startswith("spirograph.errors.")) == []


# ---------------------------------------------------------------- the int and number tests have one home
NUMERIC_TYPES = {"int", "float", "integer", "floating", "Real", "Integral", "Number"}


def _isinstance_types(node: ast.expr) -> set[str]:
    """The type names an ``isinstance(x, T)`` (or ``not isinstance(...)``) tests; empty for anything else."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        node = node.operand
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance"):
        return set()
    if len(node.args) != 2:
        return set()
    kinds = node.args[1].elts if isinstance(node.args[1], ast.Tuple) else [node.args[1]]
    return {kind.attr if isinstance(kind, ast.Attribute) else getattr(kind, "id", "") for kind in kinds}


def inline_number_checks(text: str) -> list[int]:
    """Lines where one condition tests a value for ``bool`` beside ``int``/``float``: ``is_int``'s job."""
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.BoolOp):
            kinds = set().union(*(_isinstance_types(value) for value in node.values))
            if kinds & {"bool", "bool_"} and kinds & NUMERIC_TYPES:
                found.append(node.lineno)
    return found


@pytest.mark.parametrize(
    "text",
    [
        "ok = isinstance(v, bool) or not isinstance(v, int) or v < 1\n",
        "ok = not isinstance(v, bool) and isinstance(v, (int, float))\n",
        "ok = isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))\n",
        "ok = isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)\n",
    ],
)
def test_the_number_check_finds_each_spelling(text: str) -> None:
    assert inline_number_checks(text) == [1]


def test_the_number_check_passes_other_conditions() -> None:
    text = "a = not isinstance(v, bool)\nb = isinstance(v, bool) or not math.isfinite(n)\nc = is_int(v) and v > 0\n"
    assert inline_number_checks(text) == []


def test_no_module_but_the_checks_tests_for_ints_and_numbers_inline() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != PACKAGE / "_checks.py"
        for line in inline_number_checks(path.read_text())
    ]
    assert found == []
