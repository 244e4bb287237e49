"""The layout's rules (docs/ARCHITECTURE.md): the runtime imports nothing above it, the library nothing of the
scripts, every script in trainers/ is a leaf, and no runtime or trainer file outgrows one job's size."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imported(path: Path) -> set[str]:
    """Top-level package.module names a file imports, at any depth of its code."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def files(package: str) -> list[Path]:
    return sorted((ROOT / package).glob("*.py"))


@pytest.mark.parametrize("package, forbidden", [("genie_env", ("genie_lab", "trainers")), ("genie_lab", ("trainers",))])
def test_lower_layers_import_nothing_above_them(package, forbidden):
    wrong = {f"{path.name} imports {name}" for path in files(package) for name in imported(path)
             if name.split(".")[0] in forbidden}
    assert not wrong, sorted(wrong)


def test_every_trainer_script_is_a_leaf():
    wrong = {f"{path.name} imports {name}" for path in files("trainers") for name in imported(path)
             if name.split(".")[0] == "trainers"}
    assert not wrong, sorted(wrong)


@pytest.mark.parametrize("package", ["genie_env", "trainers"])
def test_no_file_over_400_lines(package):
    long = {path.name: n for path in files(package) if (n := len(path.read_text().splitlines())) > 400}
    assert not long, long
