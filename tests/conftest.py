"""Fixtures shared across test files."""

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_repro(tmp_path_factory):
    """`dvc repro` of the tiny profile in a fresh git repository, with every stage command
    wrapped in file-tree snapshots (see snapshots.py).

    Returns ``(project, env, log)``: the repository, the environment the commands ran with, and
    the folder of the ``<stage>.before.json`` / ``<stage>.after.json`` snapshots.
    """
    # Imported here: the tests marked gpu run on machines without the pipeline's dependencies.
    from ruamel.yaml import YAML
    from snapshots import wrap_and_repro

    from labelnoise.profiles import apply_profile

    project = tmp_path_factory.mktemp("project")
    log = tmp_path_factory.mktemp("snapshots")
    for name in ("stages", "labelnoise", "images", "reviewed"):
        shutil.copytree(ROOT / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    yaml = YAML()
    stages = yaml.load((ROOT / "dvc.yaml").read_text())["stages"]
    base = yaml.load((ROOT / "params.yaml").read_text())
    params = apply_profile(base, yaml.load((ROOT / "profiles" / "tiny.yaml").read_text()))
    env = wrap_and_repro(project, stages, params, log)
    return project, env, log


# The test files that use the session's ``tiny_repro``: run in parallel, one worker runs them
# all, so the tiny pipeline is built once (collection stops if another file uses it).
TINY_REPRO_FILES = ("tests/test_ci.py", "tests/test_declared_outputs.py", "tests/test_pipeline.py")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Under pytest-xdist (``make test`` runs ``-n auto``), a test file is one unit of work, so
    its module fixtures are built once, and the files of :data:`TINY_REPRO_FILES` are one."""
    from xdist.scheduler import LoadScopeScheduling

    class ByFile(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            file = nodeid.split("::", 1)[0]
            return "tiny_repro" if file in TINY_REPRO_FILES else file

    return ByFile(config, log)


def pytest_collection_modifyitems(config, items):
    """A test file that uses ``tiny_repro`` (directly or through another fixture) and is not in
    :data:`TINY_REPRO_FILES` stops the run; tests marked ``gpu`` skip where CUDA is not
    available (torch is imported only then)."""
    strays = {
        item.nodeid.split("::", 1)[0]
        for item in items
        if "tiny_repro" in getattr(item, "fixturenames", ())
    } - set(TINY_REPRO_FILES)
    if strays:
        raise pytest.UsageError(f"add {sorted(strays)} to TINY_REPRO_FILES in tests/conftest.py")
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in gpu_items:
        item.add_marker(skip)
