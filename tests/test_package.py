"""The installable package: pyproject.toml declares every third-party distribution the library
imports, in ranges the exact pins of requirements.txt satisfy."""

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _declared() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = [Requirement(line) for line in project["dependencies"]]
    return {r.name.lower().replace("_", "-").replace(".", "-"): r for r in found}


def _imported() -> set[str]:
    """Top-level modules imported anywhere in labelnoise/, outside the standard library."""
    names = set()
    for path in (ROOT / "labelnoise").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"labelnoise", "__future__"}


def test_every_imported_distribution_is_declared():
    declared = _declared()
    owners = packages_distributions()
    missing = {}
    for module in sorted(_imported()):
        dists = {d.lower().replace("_", "-").replace(".", "-") for d in owners.get(module, [])}
        assert dists, f"{module} is imported but no installed distribution provides it"
        if not dists & declared.keys():
            missing[module] = sorted(dists)
    assert not missing, f"imported but not in pyproject.toml's dependencies: {missing}"


def test_the_pinned_versions_satisfy_the_declared_ranges():
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            requirement = Requirement(line)
            pins[requirement.name.lower().replace("_", "-").replace(".", "-")] = requirement
    for name, requirement in _declared().items():
        if name in pins:
            (pinned,) = (spec.version for spec in pins[name].specifier)
            assert requirement.specifier.contains(pinned), f"{name}=={pinned} not in {requirement}"


def test_no_function_of_the_library_or_a_stage_is_longer_than_120_lines():
    paths = [*(ROOT / "labelnoise").rglob("*.py"), *(ROOT / "stages").glob("*.py")]
    long = [
        f"{path.relative_to(ROOT)}::{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in paths
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > 120
    ]
    assert not long, long


def test_ruff_bounds_the_complexity_of_every_function():
    lint = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    assert "C90" in lint["select"]
    assert lint["mccabe"]["max-complexity"] <= 15
