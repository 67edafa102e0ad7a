"""Fresh git + DVC repositories of this pipeline, for tests that run `dvc` commands."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]


def dvc_project(project: Path, params: dict) -> dict:
    """Make ``project`` a committed git + DVC repository of this pipeline: the code, the
    folder of your images, ``dvc.yaml``, the ignore files, the DVC config, the plot templates
    and ``params`` as ``params.yaml``. Returns the environment to run ``dvc`` in it with (this
    interpreter, the copy's own package, one torch thread)."""
    project.mkdir(parents=True, exist_ok=True)
    for name in ("stages", "labelnoise", "images", "reviewed"):
        shutil.copytree(ROOT / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", ".gitignore", ".dvcignore"):
        shutil.copy(ROOT / name, project / name)
    with open(project / "params.yaml", "w") as handle:
        YAML().dump(params, handle)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.update(PYTHONPATH=str(project), PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1")
    setup = (
        f"git init -q && dvc init -q && cp {ROOT / '.dvc' / 'config'} .dvc/config && "
        f"cp -r {ROOT / '.dvc' / 'plots'} .dvc/plots && git add -A && "
        "git -c user.name=t -c user.email=t@t commit -qm project"
    )
    subprocess.run(["bash", "-ec", setup], cwd=project, env=env, check=True)
    return env
