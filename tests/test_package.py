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


def _package_imports() -> dict[str, set[str]]:
    """Every module of labelnoise/ and the modules of labelnoise/ it imports: at the top, inside
    functions and under ``TYPE_CHECKING`` alike (each is a dependency of the design)."""
    modules = {}
    for path in (ROOT / "labelnoise").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    lazy = _lazy_names(modules)

    def owner(name: str) -> str | None:
        # The module itself, or the one that defines the name (`labelnoise.a.f`: labelnoise.a).
        name = lazy.get(name, name)
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        names = []
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                # `from labelnoise.a import b`: module labelnoise.a.b, or a name of labelnoise.a.
                names += [f"{base}.{alias.name}" for alias in node.names]
        found = {owner(name) for name in names if name.split(".")[0] == "labelnoise"}
        graph[module] = found - {None, module}
    return graph


def _lazy_names(modules: dict[str, Path]) -> dict[str, str]:
    """``package.name -> package.module`` for the names a package imports on first use from the
    modules its ``_HOMES`` names (``labelnoise.train``): those imports are dependencies too."""
    lazy = {}
    for package, path in modules.items():
        if path.name != "__init__.py":
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "_HOMES":
                for name, home in ast.literal_eval(node.value).items():
                    lazy[f"{package}.{name}"] = f"{package}.{home}"
    return lazy


def _a_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (its modules in order, the first again at the end), or
    ``None``."""
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        path.append(module)
        for imported in sorted(graph[module]):
            circle = visit(imported)
            if circle:
                return circle
        path.pop()
        done.add(module)
        return None

    for module in sorted(graph):
        circle = visit(module)
        if circle:
            return circle
    return None


def test_the_package_has_no_import_circles():
    graph = _package_imports()
    # The scan sees imports at the top and inside functions, and the lazy names of a package.
    assert "labelnoise.clean.base" in graph["labelnoise.clean.data_params"]
    assert "labelnoise.train.trainer" in graph["labelnoise.clean.data_params"]
    circle = _a_circle(graph)
    assert circle is None, "import circle: " + " -> ".join(circle)
