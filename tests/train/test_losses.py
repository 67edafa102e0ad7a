"""Training losses: generalized cross-entropy orders examples as cross-entropy does, bends less
to examples the model finds unlikely, and trains a model through ``fit``."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from labelnoise.params import TrainParams
from labelnoise.train import TrainConfig, fit, predict_proba
from labelnoise.train.losses import LOSSES, generalized_cross_entropy, per_example_loss


def _batch(n=500, classes=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn(n, classes, generator=generator)
    targets = torch.randint(0, classes, (n,), generator=generator)
    return logits, targets


@pytest.mark.parametrize("q", [0.1, 0.7, 1.0])
def test_gce_orders_examples_as_cross_entropy_does(q):
    logits, targets = _batch()
    ce = F.cross_entropy(logits, targets, reduction="none")
    gce = generalized_cross_entropy(logits, targets, q=q)
    assert torch.equal(torch.argsort(ce, stable=True), torch.argsort(gce, stable=True))
    assert (gce >= 0).all() and (gce < 1 / q).all()


def test_gce_tends_to_cross_entropy_and_to_mae():
    logits, targets = _batch()
    ce = F.cross_entropy(logits, targets, reduction="none")
    p_label = torch.softmax(logits, 1).gather(1, targets[:, None]).squeeze(1)
    near_ce = generalized_cross_entropy(logits, targets, q=1e-4)
    assert torch.allclose(near_ce, ce, rtol=2e-3, atol=1e-3)
    assert torch.allclose(generalized_cross_entropy(logits, targets, q=1.0), 1 - p_label)


def test_gce_weighs_unlikely_labels_less_than_cross_entropy():
    logits = torch.tensor([[4.0, 0.0], [0.0, 4.0]], requires_grad=True)
    targets = torch.tensor([0, 0])  # the second example looks mislabelled
    grads = {}
    for name in LOSSES:
        loss = per_example_loss(logits, targets, loss=name, gce_q=0.7)
        (grad,) = torch.autograd.grad(loss.sum(), logits)
        grads[name] = grad.norm(dim=1)
    share = {name: float(g[1] / g.sum()) for name, g in grads.items()}
    assert share["gce"] < share["cross_entropy"]


def test_gce_is_finite_where_the_label_probability_underflows():
    logits = torch.tensor([[200.0, -200.0]])
    loss = generalized_cross_entropy(logits, torch.tensor([1]), q=0.7)
    assert torch.isfinite(loss).all() and float(loss) == pytest.approx(1 / 0.7)


def test_bad_loss_settings_are_refused():
    logits, targets = _batch()
    with pytest.raises(ValueError, match="unknown loss 'mae'; valid: cross_entropy, gce"):
        per_example_loss(logits, targets, loss="mae")
    # The knobs are checked where every knob is: TrainConfig's bounds, before training.
    bad = {"train.loss: unknown 'focal'; valid: cross_entropy, gce": {"loss": "focal"}}
    bad[r"train.gce_q must lie in \(0, 1\], got 0.0"] = {"loss": "gce", "gce_q": 0.0}
    for message, knobs in bad.items():
        with pytest.raises(ValueError, match=message):
            fit(
                np.zeros((4, 8, 8, 3), np.uint8),
                np.array([0, 1, 0, 1]),
                n_classes=2,
                config=TrainConfig(**knobs, device="cpu"),
                seed=0,
            )


def test_the_params_schema_names_the_same_losses():
    assert TrainParams.model_fields["loss"].annotation.__args__ == LOSSES


def test_fit_learns_clean_labels_with_gce():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 240)
    images = rng.integers(0, 110, (240, 16, 16, 3))
    images[np.arange(240), :, :, labels] += 120
    images = images.astype(np.uint8)
    config = TrainConfig(
        width=8, depth=2, epochs=4, batch_size=32, lr=0.05, device="cpu", loss="gce"
    )
    result = fit(images[:180], labels[:180], n_classes=3, config=config, seed=0, progress=False)
    accuracy = (predict_proba(result.model, images[180:]).argmax(1) == labels[180:]).mean()
    assert accuracy > 0.9
