"""labelnoise.cli.run_stage: one-line errors, and the wall time of a stage that finished."""

import re
import signal

import pytest

from labelnoise.cli import run_stage


@pytest.fixture(autouse=True)
def _sigterm_handler_restored():
    """run_stage turns SIGTERM into KeyboardInterrupt: not for the rest of the test session."""
    before = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, before)


def test_a_finished_stage_says_its_wall_time_last_on_stderr(capsys, monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    run_stage(lambda: print("cleanlab @ 0.2: flagged 3 of 10"))
    captured = capsys.readouterr()
    assert captured.out == "cleanlab @ 0.2: flagged 3 of 10\n"
    assert re.fullmatch(r"stage done in \d+\.\d s\n", captured.err), captured.err


def test_a_refused_stage_says_no_wall_time(capsys, monkeypatch):
    monkeypatch.delenv("RANK", raising=False)

    def bad() -> None:
        raise ValueError("train.lr: 'fast' is not a number")

    with pytest.raises(SystemExit) as exit_info:
        run_stage(bad)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "error: train.lr: 'fast' is not a number\n"


def test_only_the_first_torchrun_process_says_the_wall_time(capsys, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    run_stage(lambda: None)
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("RANK", "0")
    run_stage(lambda: None)
    assert capsys.readouterr().err.startswith("stage done in ")
