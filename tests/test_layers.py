"""The layers of the code hold (pyproject.toml [tool.importlinter], docs/architecture.md "Layers"), and the
linter that holds them does fail when a rule is broken: a lower app importing a higher one, a numeric core
importing Django, an app's services and tasks importing each other."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("annotations", "audit", "clinical", "enllasd_web", "inference", "operations", "review", "training")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=300)


def _only_python(folder: str, names: list[str]) -> set[str]:
    return {name for name in names if name == "__pycache__" or
            (not name.endswith(".py") and not (Path(folder) / name).is_dir())}


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Python sources and pyproject.toml, copied (about 350 small files): a tree to break on purpose."""
    root = tmp_path_factory.mktemp("layers")
    for package in PACKAGES:
        shutil.copytree(REPO_ROOT / package, root / package, ignore=_only_python)
    shutil.copy(REPO_ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    # annotations sits below training: an upward import.
    ("annotations/selectors.py", "from training.models import TrainingRun", "Apps in layers"),
    # inside a function, too: the linter sees every import.
    ("inference/core/geometry.py", "def _setup():\n    import django\n", "The numeric cores"),
    # the services queue the tasks; a task module importing its services back closes a circle.
    ("annotations/tasks.py", "from annotations.services import image_upload", "No import circle"),
])
def test_a_broken_rule_fails_the_linter(source_copy: Path, module: str, line: str, contract: str) -> None:
    path = source_copy / module
    original = path.read_text()
    try:
        path.write_text(f"{original}\n{line}\n")
        result = lint_imports(source_copy)
    finally:
        path.write_text(original)
    assert result.returncode != 0, result.stdout
    broken = result.stdout[result.stdout.index("Broken contracts"):]
    assert contract in broken, result.stdout
