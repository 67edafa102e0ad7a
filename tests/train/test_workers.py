import threading

import numpy as np
import pytest
import torch

from labelnoise.progress import track
from labelnoise.train import fit, predict_proba
from labelnoise.train.workers import map_workers, worker_count
from tests.train.test_trainer import FAST, brightest_channel

CPU = torch.device("cpu")


def test_worker_count_follows_threads_jobs_device_and_processes():
    assert worker_count(0, jobs=8, device=CPU) == torch.get_num_threads()
    assert worker_count(0, jobs=1, device=CPU) == 1
    assert worker_count(3, jobs=2, device=CPU) == 2
    assert worker_count(3, jobs=8, device=CPU) == 3
    assert worker_count(0, jobs=8, device=torch.device("cuda")) == 1
    assert worker_count(4, jobs=8, device=CPU, processes=2) == 1
    assert worker_count(0, jobs=0, device=CPU) == 1


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_worker_count_refuses_bad_values(bad):
    with pytest.raises(ValueError, match="workers must be an int >= 0"):
        worker_count(bad, jobs=4, device=CPU)


def test_map_workers_keeps_item_order_and_runs_side_by_side():
    both_running = threading.Barrier(2, timeout=10)

    def square(x: int) -> int:
        if x < 2:
            both_running.wait()  # deadlocks (then times out) unless two run at once
        return x * x

    assert map_workers(square, [0, 1, 2, 3], workers=2) == [0, 1, 4, 9]


def test_map_workers_raises_the_first_error_and_restores_threads():
    before = torch.get_num_threads()

    def fail_on_two(x: int) -> int:
        if x == 2:
            raise ValueError(f"bad item {x}")
        return x

    with pytest.raises(ValueError, match="bad item 2"):
        map_workers(fail_on_two, [0, 1, 2, 3], workers=2)
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="workers must be >= 1"):
        map_workers(fail_on_two, [0], workers=0)


def test_map_workers_labels_each_calls_progress_lines(capsys):
    both_running = threading.Barrier(2, timeout=10)

    def count(x: int) -> int:
        both_running.wait()  # the two calls report side by side
        for _ in track(range(50), desc="count", unit="step"):
            pass
        return x

    assert map_workers(count, [0, 1], workers=2, labels=["rate=0.0", "rate=0.2"]) == [0, 1]
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 20
    for label in ("rate=0.0", "rate=0.2"):
        mine = [line.split(" (")[0] for line in lines if line.startswith(f"{label} count: ")]
        assert mine == [f"{label} count: step {n}/50" for n in range(5, 51, 5)]
    with pytest.raises(ValueError, match="1 labels for 2 items"):
        map_workers(count, [0, 1], workers=2, labels=["rate=0.0"])


def test_map_workers_shares_the_threads_out_while_running():
    seen = []
    map_workers(lambda _: seen.append(torch.get_num_threads()), [0, 1], workers=2, threads=1)
    assert seen == [1, 1]


def test_trainings_side_by_side_equal_the_same_trainings_alone():
    images, labels = brightest_channel(200, seed=0)

    def train(seed: int) -> np.ndarray:
        model = fit(images, labels, n_classes=3, config=FAST, seed=seed, progress=False).model
        return predict_proba(model, images)

    together = map_workers(train, [0, 1], workers=2, threads=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        alone = [train(0), train(1)]
    finally:
        torch.set_num_threads(threads)
    assert all(np.array_equal(a, b) for a, b in zip(together, alone, strict=True))
    assert not np.array_equal(together[0], together[1])
