import numpy as np
import pytest

from labelnoise.clean import CleanResult, load_result, save_result


def test_result_round_trip_is_byte_identical_across_writes(tmp_path):
    result = CleanResult(
        scores=np.linspace(0, 1, 6),
        flags=np.array([0, 1, 0, 0, 1, 0], bool),
        noise_rate_estimate=0.33,
        extras={"trajectory": np.ones((3, 6), np.float32)},
    )
    save_result(result, tmp_path / "a.npz")
    save_result(result, tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    loaded = load_result(tmp_path / "a.npz")
    np.testing.assert_array_equal(loaded.flags, result.flags)
    assert loaded.noise_rate_estimate == pytest.approx(0.33)
    assert loaded.extras["trajectory"].shape == (3, 6)


def test_load_result_names_a_foreign_file(tmp_path):
    np.savez(tmp_path / "other.npz", x=np.zeros(2))
    with pytest.raises(ValueError, match="other.npz: not a cleaning result"):
        load_result(tmp_path / "other.npz")
    with pytest.raises(ValueError, match="missing.npz: file not found"):
        load_result(tmp_path / "missing.npz")
