import pytest
import torch

from labelnoise.train import MODELS, build_model, load_weights


@pytest.mark.parametrize("name", MODELS)
def test_features_and_head(name):
    model = build_model(name, n_classes=5, width=8, depth=2, image_size=16).eval()
    x = torch.rand(4, 3, 16, 16) * 255
    feats = model.features(x)
    assert feats.shape == (4, model.head.in_features)
    torch.testing.assert_close(model(x), model.head(feats))
    assert model(x).shape == (4, 5)


def test_init_is_a_function_of_seed():
    a = build_model("small_cnn", n_classes=3, width=8, seed=1).state_dict()
    b = build_model("small_cnn", n_classes=3, width=8, seed=1).state_dict()
    c = build_model("small_cnn", n_classes=3, width=8, seed=2).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_small_cnn_width_doubles_per_block():
    model = build_model("small_cnn", n_classes=3, width=8, depth=3)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 16, 32]
    assert model.head.in_features == 64


def test_unknown_model_lists_valid_ones():
    with pytest.raises(ValueError, match="small_cnn, resnet18"):
        build_model("vgg", n_classes=3)


def test_image_too_small_for_depth():
    with pytest.raises(ValueError, match="image_size 4"):
        build_model("small_cnn", n_classes=3, depth=3, image_size=4)


def test_weights_round_trip(tmp_path):
    path = tmp_path / "w.pt"
    source = build_model("small_cnn", n_classes=3, width=8, seed=1)
    torch.save(source.state_dict(), path)
    target = load_weights(build_model("small_cnn", n_classes=3, width=8, seed=2), path)
    for key, value in source.state_dict().items():
        assert torch.equal(value, target.state_dict()[key])


def test_weights_mismatch_names_file_and_keys(tmp_path):
    path = tmp_path / "w.pt"
    torch.save(build_model("small_cnn", n_classes=3, width=8).state_dict(), path)
    with pytest.raises(ValueError, match=r"w\.pt.*shape"):
        load_weights(build_model("small_cnn", n_classes=3, width=16), path)
    with pytest.raises(ValueError, match=r"w\.pt.*missing"):
        load_weights(build_model("resnet18", n_classes=3), path)


def test_weights_missing_or_unreadable(tmp_path):
    with pytest.raises(ValueError, match="nope.pt"):
        load_weights(build_model("small_cnn", n_classes=3), tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="bad.pt"):
        load_weights(build_model("small_cnn", n_classes=3), bad)
