"""The core install works without the ``hub`` extra, and the hub parts say how to install it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from spirograph import MissingDependencyError
from spirograph.cli import main
from spirograph.hub import export, hub_dataset, load_split, local_dataset, push, verify_export
from spirograph.hub._extra import INSTALL_HINT, require_hub

ROOT = Path(__file__).resolve().parents[1]
HUB_MODULES = ("datasets", "huggingface_hub", "pyarrow")

# Makes the hub extra's modules unimportable, as in a core-only install.
_BLOCK = (
    "import sys\n"
    "class _Block:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    f"        if name.split('.')[0] in {HUB_MODULES!r}:\n"
    "            raise ModuleNotFoundError(f'No module named {name!r}')\n"
    "sys.meta_path.insert(0, _Block())\n"
)


@pytest.fixture
def without_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in HUB_MODULES:
        monkeypatch.setitem(sys.modules, name, None)  # `import name` now raises ImportError


@pytest.mark.usefixtures("without_hub")
def test_require_hub_names_the_extra() -> None:
    with pytest.raises(MissingDependencyError, match=r"load_split: .*`datasets`.*spirograph-dataset\[hub\]"):
        require_hub("load_split")
    assert issubclass(MissingDependencyError, ImportError)


def test_require_hub_passes_when_installed() -> None:
    require_hub("load_split")


@pytest.mark.usefixtures("without_hub")
def test_hub_entry_points_say_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(MissingDependencyError, match=r"load_split: .*pip install"):
        load_split("test", repo_id="someone/spirograph")
    with pytest.raises(MissingDependencyError, match=r"hub_dataset: .*pip install"):
        hub_dataset("test", "someone/spirograph")
    with pytest.raises(MissingDependencyError, match=r"local_dataset: .*pip install"):
        local_dataset(tmp_path, "test")
    with pytest.raises(MissingDependencyError, match=r"export: .*pip install"):
        export(tmp_path / "out", subset=2)
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "manifest.json").write_text("{}")
    with pytest.raises(MissingDependencyError, match=r"push: .*pip install"):
        push(tmp_path / "done", "someone/spirograph")
    with pytest.raises(MissingDependencyError, match=r"verify_export: .*`pyarrow`.*pip install"):
        verify_export(tmp_path / "done")
    import spirograph.hub

    with pytest.raises(MissingDependencyError, match=r"SpirographBuilder: .*pip install"):
        spirograph.hub.SpirographBuilder  # noqa: B018 (the lazy attribute access is the test)


@pytest.mark.usefixtures("without_hub")
def test_cli_export_without_the_extra_is_one_line_status_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--out", str(tmp_path / "out"), "--subset", "2"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and INSTALL_HINT in err, err


@pytest.mark.usefixtures("without_hub")
def test_cli_verify_without_the_extra_names_the_extra(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("spirograph verify: error: ") and INSTALL_HINT in err, err


def test_core_works_without_the_hub_modules(tmp_path: Path) -> None:
    code = _BLOCK + (
        "import spirograph\n"
        "from spirograph import ParameterSpace, Spirograph, render\n"
        "assert render(ParameterSpace().sample(2, seed=0)).shape == (2, 3, 32, 32)\n"
        "image, target = Spirograph('test', subset=2)[0]\n"
        "assert image.shape == (3, 32, 32)\n"
        "from spirograph.cli import main\n"
        "assert main(['info']) == 0\n"
        "assert main(['export', '--out', 'x', '--subset', '2', '--quiet']) == 1\n"
        "assert all(m not in sys.modules for m in " + repr(HUB_MODULES) + ")\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert INSTALL_HINT in result.stderr
