"""A cleaning method added from outside the package: one module, one registry line (an entry
point of ``labelnoise.methods``) and its params block run through the clean and retrain stages
like the built-in ones, its params typed by its ``run``."""

import json
import os
import shutil
import textwrap

import numpy as np
import pandas as pd
import pytest
from test_bad_inputs import CLEAN, PROJECT, RATE, _refused, project  # noqa: F401
from test_stage_cli import _stage, _write_params

from labelnoise import layout

TOY = '''
import numpy as np

from labelnoise.clean import CleaningMethod, CleanResult
from labelnoise.clean.base import context_labels_probs


class LowConfidence(CleaningMethod):
    """Flag the ``fraction`` of examples whose given label the model believes least."""

    name = "low_confidence"

    def run(self, ctx, *, fraction: float = 0.1) -> CleanResult:
        labels, probs = context_labels_probs(ctx, self.name)
        scores = 1.0 - probs[np.arange(len(labels)), labels]
        flags = np.zeros(len(labels), dtype=bool)
        flags[np.argsort(-scores, kind="stable")[: round(fraction * len(labels))]] = True
        return CleanResult(scores=scores, flags=flags, noise_rate_estimate=float(flags.mean()))
'''

TOY_PARAMS = {
    **PROJECT,
    "clean.methods": ["cleanlab", "low_confidence", "consensus"],
    "clean.low_confidence": {"fraction": 0.25},
    "clean.consensus": {"members": ["cleanlab", "low_confidence", "aum"]},
    "retrain.methods": ["low_confidence"],
    "results.method": "low_confidence",  # the cleaned model is one of the drop arms
    "retrain.relabel": [],
    "retrain.second": [],
    "clean.flag_own": ["low_confidence"],  # its own rule: the fraction its params block sets
}


@pytest.fixture
def toy_site(tmp_path, monkeypatch):
    """A folder on the path of the stage processes holding the toy method's module and the
    distribution metadata that registers it."""
    site = tmp_path / "site"
    (site / "toy_method-0.1.dist-info").mkdir(parents=True)
    (site / "toy_method.py").write_text(textwrap.dedent(TOY))
    info = site / "toy_method-0.1.dist-info"
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-method\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[labelnoise.methods]\nlow_confidence = toy_method:LowConfidence\n"
    )
    path = [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(path))
    return site


def test_a_registered_method_runs_through_clean_and_retrain(tmp_path, project, toy_site):  # noqa: F811
    work = tmp_path / "project"
    shutil.copytree(project, work)
    _write_params(work, TOY_PARAMS)
    done = _stage(work, *CLEAN)
    assert done.returncode == 0, done.stderr

    n = len(pd.read_csv(layout.noisy_labels(work / "noisy", RATE)))
    result = np.load(layout.result_file(work / "clean", RATE, "low_confidence"))
    assert result["flags"].sum() == round(0.25 * n)  # its params block reached its run
    detect = json.loads(layout.detect_record(work / "detect", RATE, "low_confidence").read_text())
    assert detect["method"] == "low_confidence" and detect["n_flagged"] == round(0.25 * n)
    votes = np.load(layout.result_file(work / "clean", RATE, "consensus"))["extra_votes"]
    assert votes.max() <= 3 and (votes > 0).any()  # it votes in the consensus

    retrain = (
        "retrain.py", "--arm", "drop", "--method", "low_confidence", "--dataset", "ds",
        "--noisy", "noisy", "--flags", "clean/low_confidence", "--baseline", "baseline",
        "--out", "retrained", "--checkpoints", "checkpoints",
    )  # fmt: skip
    done = _stage(work, *retrain)
    assert done.returncode == 0, done.stderr
    record = json.loads(layout.rate_record(work / "retrained", RATE).read_text())
    assert record["method"] == "low_confidence"
    assert record["n_kept"] == n - round(0.25 * n)
    assert 0.0 <= record["accuracy"] <= 1.0


@pytest.mark.parametrize(
    ("block", "pattern"),
    [
        ({"fraction": "a quarter"}, "clean.low_confidence.fraction"),
        ({"fractoin": 0.25}, "clean.low_confidence.fractoin: unknown key"),
    ],
)
def test_a_registered_methods_block_is_typed_by_its_run(tmp_path, toy_site, block, pattern):
    _write_params(tmp_path, {**TOY_PARAMS, "clean.low_confidence": block})
    _refused(tmp_path, ("generate.py", "--out", "ds", "--figure", "fig.png"), (pattern,))


def test_a_method_that_fails_to_import_stops_only_the_runs_that_list_it(tmp_path, toy_site):
    (toy_site / "toy_method.py").write_text("import no_such_package\n")
    _write_params(tmp_path, PROJECT)  # it is registered, but not listed: the grid runs
    done = _stage(tmp_path, "generate.py", "--out", "ds", "--figure", "fig.png")
    assert done.returncode == 0, done.stderr
    _write_params(tmp_path, TOY_PARAMS)
    pattern = "cleaning method 'low_confidence' could not be loaded from toy_method:LowConfidence"
    _refused(tmp_path, ("generate.py", "--out", "ds2", "--figure", "fig2.png"), (pattern,))
