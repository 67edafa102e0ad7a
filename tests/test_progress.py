"""labelnoise.progress: a tqdm bar on a terminal, plain lines in a log, labelled per thread."""

import io
import os
import re
import sys

import pytest

from labelnoise.progress import format_duration, progress, progress_label, track

LINE = re.compile(r"^(?P<desc>.+): (?P<unit>\S+) (?P<n>\d+)/(?P<total>\d+) \((?P<pct>\d+)%\) in ")


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def _lines(text: str) -> list[re.Match]:
    lines = text.splitlines()
    matches = [LINE.match(line) for line in lines]
    assert all(matches), lines
    return matches


def test_a_log_gets_a_line_each_tenth_with_counts_and_time(capsys):
    with progress(30, desc="train", unit="epoch") as report:
        for epoch in range(30):
            report.set_postfix({"loss": f"{1 / (epoch + 1):.3f}"})
            report.update(1)
    err = capsys.readouterr().err
    lines = _lines(err)
    assert [int(m["n"]) for m in lines] == list(range(3, 31, 3))
    assert {(m["desc"], m["unit"], m["total"]) for m in lines} == {("train", "epoch", "30")}
    assert [int(m["pct"]) for m in lines] == list(range(10, 101, 10))
    last = err.splitlines()[-1]
    assert re.search(r" in \d+\.\d s, loss=0\.033$", last), last
    assert "\r" not in err


def test_a_short_loop_gets_a_line_per_item_and_a_long_one_ten(capsys):
    for _ in track(range(4), desc="folds", unit="fold"):
        pass
    assert [int(m["n"]) for m in _lines(capsys.readouterr().err)] == [1, 2, 3, 4]
    for _ in track(range(1000), desc="tvnet MC"):
        pass
    lines = _lines(capsys.readouterr().err)
    assert [int(m["n"]) for m in lines] == list(range(100, 1001, 100))
    assert lines[0]["unit"] == "step"


def test_a_resumed_loop_counts_on_from_where_it_was(capsys):
    with progress(30, desc="train", unit="epoch", initial=10) as report:
        for _ in range(20):
            report.update(1)
    assert [int(m["n"]) for m in _lines(capsys.readouterr().err)] == [12, 15, 18, 21, 24, 27, 30]


def test_labels_start_every_line_opened_inside_them(capsys):
    with progress_label("rate=0.2"):
        with progress_label("fold 1/3"):
            for _ in track(range(2), desc="train", unit="epoch"):
                pass
        for _ in track(range(1), desc="folds", unit="fold"):
            pass
    for _ in track(range(1), desc="plain"):
        pass
    descs = [m["desc"] for m in _lines(capsys.readouterr().err)]
    assert descs == ["rate=0.2 fold 1/3 train"] * 2 + ["rate=0.2 folds", "plain"]


def test_disabled_reports_nothing(capsys, monkeypatch):
    for _ in track(range(5), desc="quiet", enabled=False):
        pass
    monkeypatch.setattr(sys, "stderr", Terminal())
    with progress(5, desc="quiet", enabled=False) as report:
        report.update(5)
    assert sys.stderr.getvalue() == ""
    assert capsys.readouterr().err == ""


def test_a_terminal_gets_tqdm_bars_on_lines_of_their_own(monkeypatch):
    tqdm = pytest.importorskip("tqdm")
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    first = progress(4, desc="rate=0.0 train", unit="epoch")
    second = progress(4, desc="rate=0.2 train", unit="epoch")
    try:
        assert isinstance(first.bar, tqdm.tqdm) and isinstance(second.bar, tqdm.tqdm)
        assert (first.row, second.row) == (0, 1)
        first.update(2)
        second.set_postfix({"loss": "0.5"})
        second.update(1)
    finally:
        first.close()
    third = progress(4, desc="rate=0.4 train", unit="epoch")
    try:
        assert third.row == 0  # the first line is free again
    finally:
        third.close()
        second.close()
    out = terminal.getvalue()
    assert "rate=0.0 train:  50%" in out and "loss=0.5" in out and "\r" in out
    assert not LINE.search(out)


def test_a_terminal_without_tqdm_gets_lines(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    for _ in track(range(2), desc="import", unit="img"):
        pass
    assert [int(m["n"]) for m in _lines(terminal.getvalue())] == [1, 2]


def test_a_terminal_nobody_sized_gets_lines(monkeypatch):
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    stream = os.fdopen(slave, "w")
    try:
        if os.get_terminal_size(slave).columns:
            pytest.skip("this pseudo-terminal came with a width")
        monkeypatch.setattr(sys, "stderr", stream)
        for _ in track(range(2), desc="import", unit="img"):
            pass
        monkeypatch.undo()
        output = os.read(master, 4096).decode()
    finally:
        monkeypatch.undo()
        stream.close()
        os.close(master)
    assert [int(m["n"]) for m in _lines(output.replace("\r", ""))] == [1, 2]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"total": -1}, "total must be an int >= 0, got -1"),
        ({"total": 2.5}, "total must be an int >= 0, got 2.5"),
        ({"total": True}, "total must be an int >= 0, got True"),
        ({"total": 3, "initial": 4}, r"initial must be an int in \[0, 3\], got 4"),
    ],
)
def test_progress_refuses_bad_counts(kwargs, message):
    with pytest.raises(ValueError, match=message):
        progress(desc="x", **kwargs)


def test_progress_label_refuses_an_empty_label():
    with pytest.raises(ValueError, match="label must be a non-empty string, got ''"):
        with progress_label(""):
            pass


def test_format_duration_reads_as_seconds_minutes_or_hours():
    assert format_duration(12.34) == "12.3 s"
    assert format_duration(245) == "4 min 05 s"
    assert format_duration(7380) == "2 h 03 min"
