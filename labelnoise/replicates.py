"""Replicate runs kept as DVC experiments.

A seeds sweep (``dvc exp run --queue -S 'seed=0,1,2'`` then ``dvc queue start``) leaves one
experiment per seed, each with its own committed ``metrics/``. The regressions pool them: an
experiment is a replicate of the workspace when its ``params.yaml`` equals the workspace's in
everything but ``seed``. Experiments that differ in anything else (another model, noise kind or
grid) are other settings, compared with ``dvc exp show`` and ``dvc plots diff``, never pooled.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from labelnoise.io import atomic_path
from labelnoise.params import read_yaml

METRIC_DIRS = ("baseline", "retrain", "detect")
# States of `dvc exp show`; None is an experiment run outside the queue (`dvc exp run`).
_FINISHED = {None, "Success"}


@dataclass(frozen=True)
class Replicate:
    """One finished run that differs from the workspace only in its seed."""

    name: str  # experiment name, or the branch/commit for a committed run
    rev: str  # git revision holding its metrics
    seed: int


@dataclass(frozen=True)
class Survey:
    """What :func:`find_replicates` saw: the replicates and why the other runs were left out."""

    replicates: list[Replicate]
    left_out: list[str]


def _parse_yaml(text: str, source: str) -> dict:
    from ruamel.yaml import YAML, YAMLError

    try:
        content = YAML(typ="safe", pure=True).load(io.StringIO(text))
    except YAMLError as err:
        raise ValueError(f"{source}: not valid YAML ({err})") from None
    if not isinstance(content, dict):
        raise ValueError(f"{source}: expected a mapping at the top level")
    return content


def _without(params: dict, keys: tuple[str, ...]) -> dict:
    return {key: value for key, value in params.items() if key not in keys}


def find_replicates(
    repo: str | Path = ".", *, vary: tuple[str, ...] = ("seed",), revs: list[str] | None = None
) -> Survey:
    """The committed runs and finished experiments that replicate the workspace's settings.

    Parameters
    ----------
    repo
        Root of the DVC repository; its ``params.yaml`` is the setting to replicate.
    vary
        Top-level params allowed to differ between replicates.
    revs
        Git revisions whose experiments are searched (default: ``HEAD``), as in
        ``dvc exp show --rev``.

    Returns
    -------
    Survey
        ``replicates``: one per distinct seed, in ``dvc exp show`` order (the commit first);
        ``left_out``: a line per run not used and why (unfinished, other params, no metrics,
        a seed already taken).
    """
    import dvc.api
    from dvc.api import DVCFileSystem

    repo = Path(repo)
    workspace = read_yaml(repo / "params.yaml")
    if "seed" not in workspace:
        raise ValueError(f"{repo / 'params.yaml'}: no top-level seed")
    target = _without(workspace, vary)
    replicates: list[Replicate] = []
    left_out: list[str] = []
    seeds_taken: dict[int, str] = {}
    for row in dvc.api.exp_show(repo=str(repo), revs=revs):
        rev = row["rev"]
        if rev == "workspace":
            continue
        name = row.get("Experiment") or rev
        if row.get("State") not in _FINISHED:
            left_out.append(f"{name}: {row['State'].lower()}, not finished")
            continue
        fs = DVCFileSystem(str(repo), rev=rev)
        if not fs.exists("params.yaml"):
            left_out.append(f"{name}: no params.yaml")
            continue
        params = _parse_yaml(fs.read_text("params.yaml"), f"{name}:params.yaml")
        if _without(params, vary) != target:
            changed = sorted(
                key
                for key in {*params, *workspace} - set(vary)
                if params.get(key) != workspace.get(key)
            )
            left_out.append(f"{name}: other settings ({', '.join(changed)})")
            continue
        if not all(fs.isdir(f"metrics/{part}") for part in METRIC_DIRS):
            left_out.append(f"{name}: no metrics committed")
            continue
        seed = int(params["seed"])
        if seed in seeds_taken:
            left_out.append(f"{name}: seed {seed} already taken by {seeds_taken[seed]}")
            continue
        seeds_taken[seed] = name
        replicates.append(Replicate(name=name, rev=rev, seed=seed))
    return Survey(replicates=replicates, left_out=left_out)


def export_metrics(
    replicates: list[Replicate], out_dir: str | Path, *, repo: str | Path = "."
) -> list[Path]:
    """Copy each replicate's metric files out of git into ``out_dir/<seed>/``.

    Returns
    -------
    list of Path
        One metrics directory per replicate, in order, each holding ``baseline/``, ``retrain/``
        and ``detect/`` as :func:`labelnoise.metrics.collect` reads them.
    """
    from dvc.api import DVCFileSystem

    if not replicates:
        raise ValueError("no replicate runs to export")
    out_dir = Path(out_dir)
    roots = []
    for replicate in replicates:
        fs = DVCFileSystem(str(repo), rev=replicate.rev)
        root = out_dir / str(replicate.seed)
        with atomic_path(root, directory=True) as tmp:
            for part in METRIC_DIRS:
                (tmp / part).mkdir(parents=True)
                for path in fs.find(f"metrics/{part}"):
                    if path.endswith(".json"):
                        target = tmp / Path(path).relative_to("metrics")
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(fs.read_bytes(path))
        roots.append(root)
    return roots
