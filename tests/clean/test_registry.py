import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from labelnoise.clean import METHODS, CleanContext, get_method, params_model
from labelnoise.clean.base import check_scores, validate_pred_probs

ROOT = Path(__file__).resolve().parents[2]


def test_registry_lists_every_method():
    assert set(METHODS) == {
        "knn",
        "none",
        "oracle",
        "random",
        "cleanlab",
        "mistakenness",
        "hardness",
        "tvnet",
        "data_params",
        "aum",
        "consensus",
    }
    for name in ("none", "oracle", "random", "cleanlab", "mistakenness", "hardness", "tvnet"):
        assert get_method(name).name == name


def test_unknown_method_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown cleaning method 'nope'.*cleanlab.*tvnet"):
        get_method("nope")


def test_import_is_light():
    code = (
        "import sys, labelnoise.clean; "
        "assert 'none' in labelnoise.clean.METHODS and sorted(labelnoise.clean.METHODS); "
        "labelnoise.clean.get_method('none'); "
        "print(any(m in sys.modules for m in ('torch', 'cleanlab', 'sklearn')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_unknown_param_is_named():
    ctx = CleanContext(labels=np.zeros(3, dtype=int), n_classes=2, pred_probs=np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match=r"mistakenness: unknown parameter\(s\) \['thresh'\]"):
        get_method("mistakenness").run(ctx, thresh=0.3)


def test_check_scores_names_method():
    with pytest.raises(ValueError, match="aum: 1 score"):
        check_scores("aum", np.array([0.0, np.nan]), 2)
    with pytest.raises(ValueError, match=r"aum: scores have shape \(3,\)"):
        check_scores("aum", np.zeros(3), 2)


@pytest.mark.parametrize(
    ("probs", "match"),
    [
        (np.array([[np.nan, 1.0], [0.5, 0.5]]), "NaN"),
        (np.array([[1.2, -0.2], [0.5, 0.5]]), "negative"),
        (np.array([[0.7, 0.7], [0.5, 0.5]]), "sum to 1"),
        (np.array([[1.0, 0.0, 0.0]]), "shape"),
    ],
)
def test_validate_pred_probs_rejects(probs, match):
    with pytest.raises(ValueError, match=match):
        validate_pred_probs(probs, n=2, n_classes=2, name="cleanlab")


def test_methods_declare_their_capabilities():
    def having(capability):
        return {name for name in METHODS if getattr(METHODS[name], capability)}

    assert having("trains_model") == {"tvnet", "data_params", "aum"}
    assert having("reference") == {"none", "oracle", "random"}
    assert having("needs_truth") == {"oracle", "random"}
    assert having("suggests_truth") == {"oracle"}
    assert having("combines") == {"consensus"}
    assert having("uses_noise_estimate") == {"data_params"}


def test_params_models_follow_the_run_signatures():
    model = params_model(type(METHODS["aum"]))
    assert model().model_dump() == {
        "threshold_frac": None, "percentile": 99.0, "passes": 2,
    }  # fmt: skip
    with pytest.raises(ValueError, match="episods"):
        params_model(type(METHODS["tvnet"]))(episods=5)
    with pytest.raises(ValueError, match="filter_by"):
        params_model(type(METHODS["cleanlab"]))(filter_by="some")
    assert params_model(type(METHODS["none"]))().model_dump() == {}


def test_reading_params_and_capabilities_imports_no_torch():
    code = (
        "import sys; from labelnoise.params import load_params; load_params('params.yaml'); "
        "from labelnoise.clean import METHODS; [METHODS[m].trains_model for m in METHODS]; "
        "print(sorted(m for m in ('torch', 'cleanlab') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
