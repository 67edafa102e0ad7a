import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from labelnoise.clean import CleanContext, get_method
from labelnoise.clean.tvnet import tvnet_mc_values, tvnet_values_reference


def _clusters(n_per_class, n_classes=4, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, 3.0, (n_classes, dim))
    labels = np.repeat(np.arange(n_classes), n_per_class)
    return means, labels, means[labels] + rng.normal(0.0, 1.0, (len(labels), dim))


def _noisy_context(rate=0.2, seed=0):
    rng = np.random.default_rng(seed + 1)
    means, true, features = _clusters(100, seed=seed)
    val_labels = np.repeat(np.arange(4), 25)
    val_features = means[val_labels] + rng.normal(0.0, 1.0, (len(val_labels), means.shape[1]))
    flipped = np.zeros(len(true), dtype=bool)
    flipped[rng.choice(len(true), round(rate * len(true)), replace=False)] = True
    given = true.copy()
    given[flipped] = (true[flipped] + rng.integers(1, 4, flipped.sum())) % 4
    ctx = CleanContext(
        labels=given,
        n_classes=4,
        pred_probs=np.full((len(given), 4), 0.25),
        features=features,
        val_features=val_features,
        val_labels=val_labels,
        progress=False,
    )
    return ctx, flipped


@pytest.mark.parametrize("epochs", [1, 2])
def test_batched_equals_reference(epochs):
    _, labels, features = _clusters(6, n_classes=3, dim=5, seed=3)
    _, val_labels, val_features = _clusters(4, n_classes=3, dim=5, seed=4)
    kwargs = {"n_classes": 3, "episodes": 5, "epochs": epochs, "lr": 0.05, "seed": 11}
    values, gains = tvnet_mc_values(features, labels, val_features, val_labels, **kwargs)
    ref_values, ref_gains = tvnet_values_reference(
        features, labels, val_features, val_labels, **kwargs
    )
    assert gains.shape == (5, epochs * len(labels))
    np.testing.assert_allclose(gains, ref_gains, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(values, ref_values, rtol=1e-9, atol=1e-12)


@pytest.mark.gpu
def test_cuda_equals_reference():
    _, labels, features = _clusters(6, n_classes=3, dim=5, seed=3)
    _, val_labels, val_features = _clusters(4, n_classes=3, dim=5, seed=4)
    kwargs = {"n_classes": 3, "episodes": 5, "lr": 0.05, "seed": 11}
    _, gains = tvnet_mc_values(features, labels, val_features, val_labels, device="cuda", **kwargs)
    _, ref = tvnet_values_reference(features, labels, val_features, val_labels, **kwargs)
    np.testing.assert_allclose(gains, ref, rtol=1e-9, atol=1e-12)


def test_tvnet_ranks_flips_first():
    ctx, flipped = _noisy_context()
    result = get_method("tvnet").run(ctx, episodes=20, train_per_class=50)
    assert roc_auc_score(flipped, result.scores) > 0.85
    np.testing.assert_array_equal(result.flags, result.extras["predicted_value"] < 0)
    assert (result.flags & flipped).sum() > 0.8 * result.flags.sum()
    assert 0.1 < result.noise_rate_estimate < 0.3
    assert np.isfinite(result.scores).all()
    # Monte-Carlo values exist for the subset only; flipped examples are harmful on average.
    mc = result.extras["mc_values"]
    assert np.isnan(mc).sum() == len(mc) - 4 * 50
    assert np.nanmean(mc[flipped]) < 0 < np.nanmean(mc[~flipped])


def test_tvnet_is_seeded():
    ctx, _ = _noisy_context()
    a = get_method("tvnet").run(ctx, episodes=3, reg_max_epochs=5)
    b = get_method("tvnet").run(ctx, episodes=3, reg_max_epochs=5)
    np.testing.assert_array_equal(a.scores, b.scores)


def test_tvnet_needs_trusted_validation_set():
    ctx, _ = _noisy_context()
    ctx.val_features = None
    with pytest.raises(ValueError, match="tvnet: needs a trusted validation set"):
        get_method("tvnet").run(ctx)


def test_tvnet_small_class_is_named():
    ctx, _ = _noisy_context()
    ctx.labels = ctx.labels.copy()
    ctx.labels[ctx.labels == 2] = 1
    ctx.labels[:5] = 2
    with pytest.raises(ValueError, match=r"tvnet: class\(es\) \[2\] have \[5\] Monte-Carlo"):
        get_method("tvnet").run(ctx, train_per_class=50)


def test_tvnet_bad_features():
    ctx, _ = _noisy_context()
    ctx.features = ctx.features.copy()
    ctx.features[0, 0] = np.nan
    with pytest.raises(ValueError, match="tvnet: features contain NaN"):
        get_method("tvnet").run(ctx)


def test_tvnet_trusted_count_flags_the_lowest_values_per_class():
    from dataclasses import replace

    from labelnoise.clean.flagging import flag
    from labelnoise.noise import NoiseEstimate

    ctx, flipped = _noisy_context()
    per_class = np.bincount(ctx.labels[flipped], minlength=4)
    estimate = NoiseEstimate(np.eye(4) / 4, 0.2, per_class, np.full(4, 0.5))
    ctx = replace(ctx, trusted_noise=estimate)
    method = get_method("tvnet")
    result = method.run(ctx, episodes=3, reg_max_epochs=5)
    result = flag(method, result, ctx, rule="trusted", cost_ratio=1.0)
    assert np.bincount(ctx.labels[result.flags], minlength=4).tolist() == per_class.tolist()
    # The flagged are the lowest predicted values of their given class.
    value = result.extras["predicted_value"]
    for c in range(4):
        mine = ctx.labels == c
        assert value[mine & result.flags].max() <= value[mine & ~result.flags].min()
