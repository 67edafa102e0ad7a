"""DVC deps that cannot go stale: every stage depends on the code its script runs, and every
params key it reads is written in ``params.yaml`` and declared in the stage's ``params:``.

The code a stage runs is its script's import closure within ``labelnoise/``, read from the
source (``ast``): every ``labelnoise`` import, at module level and inside functions, followed
transitively. Importing ``labelnoise.a.b`` runs ``labelnoise/__init__.py``,
``labelnoise/a/__init__.py`` and ``labelnoise/a/b.py``; ``from labelnoise.a import b`` runs
the submodule ``b`` when there is one, or else the module that defines ``b`` when the package
hands it out on first use (``labelnoise.train``). A dep folder (``labelnoise/train``) covers
every file below it. The params schema, ``labelnoise/params.py``, stands apart: it validates
``params.yaml`` and decides nothing a stage writes, so it is no stage's dep, and what only it
imports (a cleaning method's params model) is not followed. What it reads instead is the
second test's business: the keys a stage reads from the :class:`labelnoise.params.Params` that
``load_params()`` returns, followed into the library functions it is passed to, must each be
in ``params.yaml`` (no output rests on a default written in code) and under the stage's
``params:``. A read that can only stop the stage (in an ``if`` whose body raises, or in the
error it raises) shapes no output and is not counted.

The cleaning methods, which the registry in ``labelnoise/clean/__init__.py`` loads by name
(``get_method``), are not imports and are not followed; a stage may list one it needs
(``relabel`` reads the oracle's ``suggests_truth``).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import textwrap
from functools import cache
from pathlib import Path

import pytest
from pydantic import BaseModel
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "labelnoise"
SCHEMA = "labelnoise.params"


@cache
def _stages() -> dict[str, dict]:
    """Every stage of ``dvc.yaml`` by name, the body of a ``foreach`` in place of the stage."""
    stages = YAML(typ="safe").load((ROOT / "dvc.yaml").read_text())["stages"]
    return {name: stage.get("do", stage) for name, stage in stages.items()}


def _script(stage: dict) -> Path:
    (script,) = re.findall(r"\bpython (\S+\.py)\b", stage["cmd"])
    return ROOT / script


def _module_path(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.is_file():
            return path
    return None


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _imports(path: Path) -> set[str]:
    """The ``labelnoise`` modules that ``path`` imports anywhere, with their packages."""
    module = _module_name(path) if path.is_relative_to(ROOT / PACKAGE) else ""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            targets += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets += [base, *(f"{base}.{alias.name}" for alias in node.names)]
    found = set()
    for target in targets:
        parts = target.split(".")
        if parts[0] == PACKAGE:
            found |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
            found.add(_home(target))
    return {name for name in found if name and _module_path(name)}


@cache
def _home(target: str) -> str | None:
    """The module that defines ``package.name`` when a package hands it out without importing
    it at the top (``labelnoise.train`` loads ``fit`` from its ``trainer`` on first use)."""
    package, _, name = target.rpartition(".")
    if _module_path(target) or not package.startswith(PACKAGE) or not _module_path(package):
        return None
    home = getattr(getattr(importlib.import_module(package), name, None), "__module__", None)
    return home if isinstance(home, str) and home.startswith(f"{PACKAGE}.") else None


@cache
def _loaded_by_name() -> set[str]:
    """Modules that the package loads by name at run time (the cleaning methods' registry,
    ``"labelnoise.clean.baselines:Oracle"``): a stage may need them though no import names
    them, so a dep on one is not stale."""
    names = set()
    for path in (ROOT / PACKAGE).rglob("*.py"):
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                match = re.fullmatch(rf"({PACKAGE}(?:\.\w+)+):\w+", node.value)
                if match and _module_path(match[1]):
                    names.add(_module_path(match[1]).relative_to(ROOT).as_posix())
    return names


def import_closure(script: Path) -> set[str]:
    """Every ``labelnoise`` module (as a path relative to the root) that ``script`` imports,
    directly or through another, the params schema and what it alone imports left out."""
    todo, seen = _imports(script), set()
    while todo:
        name = todo.pop()
        if name in seen or name == SCHEMA:
            continue
        seen.add(name)
        todo |= _imports(_module_path(name))
    return {_module_path(name).relative_to(ROOT).as_posix() for name in seen}


def _covered(path: str, deps: list[str]) -> bool:
    return any(path == dep or path.startswith(dep.rstrip("/") + "/") for dep in deps)


@pytest.mark.parametrize("stage", sorted(_stages()))
def test_every_stage_depends_on_the_modules_its_script_imports(stage):
    body = _stages()[stage]
    deps = [str(dep) for dep in body["deps"]]
    script = _script(body).relative_to(ROOT).as_posix()
    assert script in deps, f"{stage}: dvc.yaml deps lack its script {script}"
    closure = import_closure(ROOT / script)
    missing = sorted(path for path in closure if not _covered(path, deps))
    assert not missing, f"{stage}: dvc.yaml deps lack modules its script imports: {missing}"
    # And no code dep is stale: a module the script no longer imports reruns it for nothing.
    code = [dep for dep in deps if dep.startswith(f"{PACKAGE}/") and dep not in _loaded_by_name()]
    stale = [dep for dep in code if not any(_covered(path, [dep]) for path in closure)]
    assert not stale, f"{stage}: dvc.yaml deps name code its script does not import: {stale}"


def test_the_closure_follows_imports_in_functions_and_packages(tmp_path):
    closure = import_closure(ROOT / "stages" / "retrain.py")
    # At module level, inside main() and nested functions; packages bring their __init__.
    assert {"labelnoise/__init__.py", "labelnoise/cli.py", "labelnoise/io.py"} <= closure
    assert {"labelnoise/layout.py", "labelnoise/train/__init__.py"} <= closure
    assert "labelnoise/train/workers.py" in closure  # imported inside main()
    assert "labelnoise/clean/relabel.py" in closure  # through labelnoise.arms, in a function
    assert "labelnoise/params.py" not in closure
    script = tmp_path / "stage.py"
    script.write_text("def main():\n    from labelnoise import layout, noisy_labels\n")
    assert import_closure(script) == {
        "labelnoise/__init__.py", "labelnoise/layout.py", "labelnoise/noisy_labels.py",
    }  # fmt: skip


def test_a_removed_dep_is_caught(monkeypatch):
    """The check above fails for every module of the closure that a stage no longer lists."""
    stages = {name: dict(body) for name, body in _stages().items()}
    body = stages["corrupt"]
    body["deps"] = [dep for dep in body["deps"] if dep != "labelnoise/noise.py"]
    monkeypatch.setattr(
        __import__(__name__, fromlist=["_stages"]), "_stages", lambda: stages, raising=True
    )
    with pytest.raises(AssertionError, match=r"labelnoise/noise\.py"):
        test_every_stage_depends_on_the_modules_its_script_imports("corrupt")


# ---------------------------------------------------------------------------------------------
# The params keys each stage reads.


@cache
def _params_model() -> type[BaseModel]:
    from labelnoise.params import schema

    return schema()


def _model_of(annotation) -> type[BaseModel] | None:
    return (
        annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    )


def _raises_only(node: ast.AST) -> bool:
    """An ``if`` that can only stop the run: its body raises (or reports a usage error)."""
    if not isinstance(node, ast.If):
        return False

    def stops(statement) -> bool:
        if isinstance(statement, ast.Raise):
            return True
        call = getattr(statement, "value", None)
        return isinstance(call, ast.Call) and getattr(call.func, "attr", "") == "error"

    return not node.orelse and all(stops(statement) for statement in node.body)


class _Reads:
    """The params keys one stage reads, from its script into the library functions it passes
    its params (or a section of them) to.

    Keys are dotted paths (``train.epochs``); a whole section read (passed on to code that is
    not followed, dumped, copied) is its path with ``*`` (``train.*``); a key chosen at run
    time (``getattr(self, name)``) is the section's path with ``?`` (``clean.?``).
    """

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self._done: set[tuple] = set()

    def script(self, path: Path) -> set[str]:
        tree = _tree(path)
        for function in ast.walk(tree):
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                roots = {
                    target.id: ("", _params_model())
                    for node in ast.walk(function)
                    if isinstance(node, ast.Assign)
                    and isinstance(node.value, ast.Call)
                    and getattr(node.value.func, "id", "") == "load_params"
                    for target in node.targets
                    if isinstance(target, ast.Name)
                }
                if roots:
                    self.function(function, path, roots)
        return self.keys

    def function(self, function: ast.AST, path: Path, roots: dict) -> None:
        done = (
            path,
            function.name,
            function.lineno,
            tuple(sorted((n, p) for n, (p, _) in roots.items())),
        )
        if done in self._done:
            return
        self._done.add(done)
        parents = {
            child: node for node in ast.walk(function) for child in ast.iter_child_nodes(node)
        }
        skipped = {  # a guard that can only stop the stage, and its message
            id(node)
            for branch in ast.walk(function)
            if isinstance(branch, ast.Raise) or _raises_only(branch)
            for node in ast.walk(branch)
        }
        roots = dict(roots)
        for node in ast.walk(function):  # aliases first: section = params.report
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                for target, value in _pairs(node.targets[0], node.value):
                    found = self._chain(value, roots)
                    if found and found[1] is not None and found[2] is None:
                        roots[target.id] = found[:2]
        for node in ast.walk(function):
            if id(node) in skipped or not isinstance(node, ast.Name | ast.Attribute):
                continue
            if isinstance(parents.get(node), ast.Attribute):
                continue  # the longest chain is read, not its prefixes
            found = self._chain(node, roots)
            if found:
                self._use(node, found, parents, path, roots)

    def _chain(self, node: ast.AST, roots: dict):
        """``(path, model, member)`` of an attribute chain from a tracked name: the section it
        ends at (``member`` None), or the key it reads (``model`` None), or the model's
        property or method it calls (``member``)."""
        attrs = []
        while isinstance(node, ast.Attribute):
            attrs.insert(0, node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or node.id not in roots:
            return None
        path, model = roots[node.id]
        for attr in attrs:
            fields = model.model_fields
            if attr not in fields:
                return path, model, attr
            path = f"{path}.{attr}" if path else attr
            model = _model_of(fields[attr].annotation)
            if model is None:
                return path, None, None
        return path, model, None

    def _use(self, node, found, parents, path: Path, roots: dict) -> None:
        key, model, member = found
        if model is None:
            self.keys.add(key)
        elif member is not None:
            self._member(model, key, member)
        else:  # a section (or the whole params) handed on
            parent = parents.get(node)
            if isinstance(parent, ast.Tuple):
                parent = parents.get(parent)
            if isinstance(parent, ast.Assign):
                return  # an alias, followed where it is read
            if isinstance(parent, ast.Call) and getattr(parent.func, "id", "") == "getattr":
                name = parent.args[1]
                constant = isinstance(name, ast.Constant)
                self.keys.add(f"{key}.{name.value if constant else '?'}".lstrip("."))
                return
            if isinstance(parent, ast.keyword):
                parent = parents.get(parent)
            if isinstance(parent, ast.Call) and parent.func is not node:
                callee = _callee(parent.func, path)
                if callee is not None:
                    self._call(parent, node, callee, key, model)
                    return
            self.keys.add(f"{key}.*" if key else "*")

    def _member(self, model: type[BaseModel], key: str, member: str) -> None:
        owner = next((c for c in model.__mro__ if member in vars(c)), None)
        if owner is None or owner.__module__ != SCHEMA:  # pydantic's: model_dump, model_copy
            self.keys.add(f"{key}.*" if key else "*")
            return
        source = vars(owner)[member]
        source = source.fget if isinstance(source, property) else source
        function = ast.parse(textwrap.dedent(inspect.getsource(source))).body[0]
        self.function(function, Path(inspect.getsourcefile(owner)), {"self": (key, model)})

    def _call(self, call: ast.Call, node, callee, key: str, model) -> None:
        function, path = callee
        names = [a.arg for a in [*function.args.posonlyargs, *function.args.args]]
        if names and names[0] in ("self", "cls") and _is_method(function, path):
            names = names[1:]
        bound = {}
        for index, arg in enumerate(call.args):
            if arg is node and index < len(names):
                bound[names[index]] = (key, model)
        for keyword in call.keywords:
            if keyword.value is node and keyword.arg:
                bound[keyword.arg] = (key, model)
        if bound:
            self.function(function, path, bound)
        else:
            self.keys.add(f"{key}.*" if key else "*")


def _pairs(target: ast.AST, value: ast.AST) -> list[tuple[ast.Name, ast.AST]]:
    """The names an assignment binds, each with its value (``a, b = x.a, x.b`` pairwise)."""
    if isinstance(target, ast.Name):
        return [(target, value)]
    if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple):
        if len(target.elts) == len(value.elts):
            return [p for t, v in zip(target.elts, value.elts, strict=True) for p in _pairs(t, v)]
    return []


def _is_method(function: ast.FunctionDef, path: Path) -> bool:
    return any(
        function in node.body for node in ast.walk(_tree(path)) if isinstance(node, ast.ClassDef)
    )


def _defined(path: Path, dotted: list[str]):
    """The function ``dotted`` (``["f"]`` or ``["Class", "method"]``) defined in ``path``."""
    body = _tree(path).body
    for part in dotted[:-1]:
        body = next((n.body for n in body if isinstance(n, ast.ClassDef) and n.name == part), [])
    return next((n for n in body if isinstance(n, ast.FunctionDef) and n.name == dotted[-1]), None)


def _callee(func: ast.AST, path: Path):
    """The ``(FunctionDef, file)`` that a call's ``func`` names, when it is a function of the
    same file or one imported from ``labelnoise``; else None."""
    dotted = []
    while isinstance(func, ast.Attribute):
        dotted.insert(0, func.attr)
        func = func.value
    if not isinstance(func, ast.Name):
        return None
    dotted.insert(0, func.id)
    local = _defined(path, dotted)
    if local is not None:
        return local, path
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE):
            for alias in node.names:
                if (alias.asname or alias.name) != dotted[0]:
                    continue
                submodule = _module_path(f"{node.module}.{alias.name}")
                if submodule is not None and len(dotted) > 1:  # from labelnoise import layout
                    found = _defined(submodule, dotted[1:])
                    return (found, submodule) if found else None
                module = _module_path(node.module)
                found = module and _defined(module, [alias.name, *dotted[1:]])
                return (found, module) if found else None
    return None


def stage_reads(stage: str) -> set[str]:
    """The params keys ``stage``'s script reads (see :class:`_Reads`)."""
    return _Reads().script(_script(_stages()[stage]))


def _lacking(key: str, raw: dict) -> list[str]:
    """The keys that ``params.yaml`` (``raw``) lacks of those that ``key`` reads: the key, or
    with ``*`` every field of the section, or with ``?`` every block of a method that runs."""
    model, value, path = _params_model(), raw, []
    for part in key.split("."):
        if part in ("*", "?"):
            if part == "*":
                names = list(model.model_fields)
            else:  # only the clean section has blocks chosen by name
                names = [*raw["clean"]["methods"], *raw["clean"]["trained"]]
            return [
                missing for name in names for missing in _lacking(".".join([*path, name, "*"]), raw)
            ]
        if not isinstance(value, dict) or part not in value:
            return [".".join([*path, part])]
        value, path = value[part], [*path, part]
        field = model.model_fields.get(part) if model is not None else None
        model = _model_of(field.annotation) if field is not None else None
        if model is None and key.endswith(".*"):
            return []  # a key of a section read whole
    return []


def _declared(key: str, params: list[str]) -> bool:
    """Whether the stage's ``params:`` entries cover ``key`` (``train`` covers
    ``train.epochs``; ``clean.${item}`` covers the block chosen at run time, ``clean.?``)."""
    parts = [p for p in key.split(".") if p not in ("*", "?")]
    wildcard = key.endswith(".?")
    for entry in params:
        entry_parts = str(entry).replace("${item}", "?").split(".")
        if entry_parts == parts[: len(entry_parts)]:
            return True
        if wildcard and entry_parts == [*parts, "?"]:
            return True
    return False


# Keys a stage reads for some of its items only: declaring them would rerun the others.
NOT_FOR_EVERY_ITEM = {
    # The retrain script reads it for every arm; only relabel and second arms use it.
    "retrain": {"retrain.confidence"},
    "robust": {"retrain.confidence"},
}


@pytest.mark.parametrize("stage", sorted(_stages()))
def test_every_params_key_a_stage_reads_is_written_and_declared(stage):
    from labelnoise.params import read_yaml

    raw = read_yaml(ROOT / "params.yaml")
    reads = stage_reads(stage)
    missing = sorted({m for key in reads for m in _lacking(key, raw)})
    assert not missing, f"{stage} reads params that params.yaml lacks (code defaults): {missing}"
    params = _stages()[stage].get("params", [])
    undeclared = sorted(key for key in reads if not _declared(key, params))
    undeclared = [key for key in undeclared if key not in NOT_FOR_EVERY_ITEM.get(stage, ())]
    assert not undeclared, f"{stage}: dvc.yaml params lack keys the stage reads: {undeclared}"


def test_reads_are_followed_into_the_library_and_properties():
    reads = stage_reads("regress")
    # params.regress.<key> by its alias `section`, params.rates through its property, and
    # Grid.from_params(params) in labelnoise.metrics with its properties of params.
    assert {"regress.bootstrap", "regress.drops", "regress.grid", "report.rate"} <= reads
    assert {"noise.rates", "data.source", "noise.inject_own"} <= reads
    assert {"clean.methods", "clean.trained", "retrain.relabel", "retrain.robust"} <= reads
    # A whole section handed on (train_and_test dumps it into the trainer's config).
    assert "train.*" in stage_reads("retrain")
    # A method's block chosen by name; a guard that only raises is no read.
    fit = stage_reads("fit")
    assert "clean.?" in fit and "clean.trained" not in fit
