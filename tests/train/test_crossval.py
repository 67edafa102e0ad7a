import numpy as np
import pytest

from labelnoise.train import TrainConfig, out_of_sample_folds, out_of_sample_proba

CFG = TrainConfig(width=8, depth=2, epochs=3, batch_size=32, lr=0.05, device="cpu")


def brightest_channel(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    images = rng.integers(0, 110, (n, 16, 16, 3))
    images[np.arange(n), :, :, labels] += 120
    return images.astype(np.uint8), labels


def test_every_row_predicted_by_the_model_that_never_saw_it():
    images, labels = brightest_channel(150, seed=0)
    proba, fold, _ = out_of_sample_folds(
        images, labels, n_classes=3, folds=3, config=CFG, seed=0, progress=False
    )
    assert proba.shape == (150, 3)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-5)
    assert sorted(np.bincount(fold).tolist()) == [50, 50, 50]
    for k in range(3):
        held = fold == k
        assert set(np.unique(labels[held])) == {0, 1, 2}
    same = out_of_sample_proba(
        images, labels, n_classes=3, folds=3, config=CFG, seed=0, progress=False
    )
    np.testing.assert_array_equal(same, proba)


def test_a_log_follows_the_folds_and_each_fold_models_epochs(capsys):
    images, labels = brightest_channel(90, seed=0)
    out_of_sample_folds(images, labels, n_classes=3, folds=3, config=CFG, seed=0)
    lines = capsys.readouterr().err.splitlines()
    folds = [line for line in lines if line.startswith("folds: ")]
    assert [line.split(" (")[0] for line in folds] == [f"folds: fold {k}/3" for k in (1, 2, 3)]
    for k in (1, 2, 3):
        epochs = [line for line in lines if line.startswith(f"fold {k}/3: epoch ")]
        assert [line.split(" (")[0] for line in epochs] == [
            f"fold {k}/3: epoch {e}/3" for e in (1, 2, 3)
        ]
    assert len(lines) == len(folds) + 9


def test_fold_models_never_saw_their_rows(monkeypatch):
    import labelnoise.train.crossval as crossval

    images, labels = brightest_channel(60, seed=1)
    images[:, 0, 0, 0] = np.arange(60)  # a pixel that names each image
    seen = []
    real_fit = crossval.fit

    def spy_fit(train_images, *args, rows, **kwargs):
        seen.append(set(train_images[rows, 0, 0, 0].tolist()))
        return real_fit(train_images, *args, rows=rows, **kwargs)

    monkeypatch.setattr(crossval, "fit", spy_fit)
    _, fold, _ = out_of_sample_folds(
        images, labels, n_classes=3, folds=3, config=CFG, seed=0, progress=False
    )
    for k, trained_on in enumerate(seen):
        held = set(np.flatnonzero(fold == k).tolist())
        assert trained_on.isdisjoint(held)
        assert trained_on | held == set(range(60))


def test_noisy_labels_get_their_true_class():
    # Held out, a flipped example is predicted as its true class; in-sample it would be pulled
    # towards its flipped label.
    images, labels = brightest_channel(150, seed=2)
    given = labels.copy()
    flipped = np.arange(0, 150, 15)
    given[flipped] = (labels[flipped] + 1) % 3
    proba = out_of_sample_proba(
        images, given, n_classes=3, folds=3, config=CFG, seed=0, progress=False
    )
    assert (proba[flipped].argmax(1) == labels[flipped]).mean() >= 0.8


def test_rare_class_is_an_error():
    images, labels = brightest_channel(60, seed=0)
    labels[:] = 0
    labels[:2] = 1
    labels[2:20] = 2
    with pytest.raises(ValueError, match="class 1 has 2 examples"):
        out_of_sample_proba(
            images, labels, n_classes=3, folds=3, config=CFG, seed=0, progress=False
        )


def test_bad_folds():
    images, labels = brightest_channel(30, seed=0)
    with pytest.raises(ValueError, match="folds"):
        out_of_sample_proba(images, labels, n_classes=3, folds=1, config=CFG, seed=0)
