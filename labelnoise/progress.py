"""Progress of the long loops (epochs, folds, Monte-Carlo steps, images): a tqdm bar on a
terminal, plain lines in a log.

A queued experiment (``dvc exp run --queue``) or a CI job writes stderr to a file, where a bar
shows nothing, or its redraws pile up into one garbled line. There each loop prints a line every
tenth of the way instead, flushed at once. Work that runs side by side in threads
(:func:`labelnoise.train.workers.map_workers`) names itself with :func:`progress_label`: its
lines start with that name, and on a terminal each bar open at once keeps a line of its own.
"""

from __future__ import annotations

import contextvars
import numbers
import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

Item = TypeVar("Item")

LINES_PER_LOOP = 10

_LABELS: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "progress_labels", default=()
)
# Terminal lines taken by the bars open now, in any thread.
_ROWS: set[int] = set()
_ROWS_LOCK = threading.Lock()


class Progress:
    """What a loop reports to: ``update`` after each item, ``close`` at the end.

    This base class reports nothing: :func:`progress` returns it when disabled, and one of its
    subclasses otherwise.
    """

    def update(self, n: int = 1) -> None:
        """Count ``n`` more items done."""

    def set_postfix(self, values: Mapping[str, Any]) -> None:
        """Show ``values`` (e.g. the last epoch's loss) from now on."""

    def close(self) -> None:
        """End the loop's report."""

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Lines(Progress):
    """A line on stderr each time the count passes a tenth of the total, and at the end."""

    def __init__(self, total: int, *, desc: str, unit: str, initial: int) -> None:
        self.total, self.desc, self.unit = total, desc, unit
        self.n = self.shown = initial
        self.postfix = ""
        self.start = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.total <= 0:
            return
        # The last item always passes into the last tenth, so every loop ends with a line.
        if LINES_PER_LOOP * self.n // self.total > LINES_PER_LOOP * self.shown // self.total:
            self.shown = self.n
            self._write()

    def set_postfix(self, values: Mapping[str, Any]) -> None:
        self.postfix = " ".join(f"{key}={value}" for key, value in values.items())

    def _write(self) -> None:
        percent = 100 * self.n // self.total
        elapsed = format_duration(time.monotonic() - self.start)
        line = f"{self.desc}: {self.unit} {self.n}/{self.total} ({percent}%) in {elapsed}"
        if self.postfix:
            line += f", {self.postfix}"
        # One write per line: lines of threads side by side do not interleave.
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


class _Bar(Progress):
    """A tqdm bar on a terminal line of its own."""

    def __init__(self, bar: Any, row: int) -> None:
        self.bar, self.row = bar, row

    def update(self, n: int = 1) -> None:
        self.bar.update(n)

    def set_postfix(self, values: Mapping[str, Any]) -> None:
        self.bar.set_postfix(dict(values))

    def close(self) -> None:
        if self.row < 0:
            return
        self.bar.close()
        with _ROWS_LOCK:
            _ROWS.discard(self.row)
        self.row = -1


def progress(
    total: int,
    *,
    desc: str,
    unit: str = "step",
    initial: int = 0,
    enabled: bool = True,
) -> Progress:
    """Report a loop of ``total`` items: a tqdm bar when stderr is a terminal, else lines.

    Parameters
    ----------
    total
        Items the loop will count (>= 0).
    desc
        What the loop does, e.g. ``"train"``; the labels of :func:`progress_label` open around
        this call come first.
    unit
        What an item is (``"epoch"``, ``"img"``...).
    initial
        Items already done (a resumed training), in ``[0, total]``.
    enabled
        ``False`` reports nothing.

    Returns
    -------
    Progress
        Call ``update()`` after each item and ``close()`` at the end (or use it in a ``with``
        block). Without a terminal (or without tqdm), a line goes to stderr each time the count
        passes a tenth of ``total``: ``"<desc>: <unit> <n>/<total> (<percent>%) in <elapsed>"``,
        then the values given to ``set_postfix``.
    """
    if not _is_int(total) or total < 0:
        raise ValueError(f"total must be an int >= 0, got {total!r}")
    if not _is_int(initial) or not 0 <= initial <= total:
        raise ValueError(f"initial must be an int in [0, {total}], got {initial!r}")
    total, initial = int(total), int(initial)
    if not enabled:
        return Progress()
    desc = " ".join((*_LABELS.get(), desc))
    if _on_terminal():
        try:
            from tqdm.auto import tqdm
        except ImportError:
            pass
        else:
            with _ROWS_LOCK:
                row = next(r for r in range(len(_ROWS) + 1) if r not in _ROWS)
                _ROWS.add(row)
            try:
                # leave=None keeps the finished bar of the first line only: the lines below
                # belong to inner loops or to work beside it.
                bar = tqdm(
                    total=total, initial=initial, desc=desc, unit=unit, position=row, leave=None
                )
            except BaseException:
                with _ROWS_LOCK:
                    _ROWS.discard(row)
                raise
            return _Bar(bar, row)
    return _Lines(total, desc=desc, unit=unit, initial=initial)


def track(
    items: Iterable[Item],
    *,
    desc: str,
    unit: str = "step",
    total: int | None = None,
    enabled: bool = True,
) -> Iterator[Item]:
    """``items``, reported by :func:`progress` as each one is done.

    Parameters
    ----------
    items
        What the loop goes through.
    desc, unit, enabled
        As in :func:`progress`.
    total
        Number of items; ``len(items)`` when not given.
    """
    if total is None:
        total = len(items)  # type: ignore[arg-type]
    with progress(total, desc=desc, unit=unit, enabled=enabled) as report:
        for item in items:
            yield item
            report.update(1)


@contextmanager
def progress_label(label: str) -> Iterator[None]:
    """Start the description of every report opened in this block, in this thread, with
    ``label`` (e.g. ``"rate=0.2"``); labels of nested blocks follow one another."""
    if not isinstance(label, str) or not label.strip():
        raise ValueError(f"label must be a non-empty string, got {label!r}")
    token = _LABELS.set((*_LABELS.get(), label))
    try:
        yield
    finally:
        _LABELS.reset(token)


def format_duration(seconds: float) -> str:
    """``seconds`` for a person: ``"12.3 s"``, ``"4 min 05 s"``, ``"2 h 03 min"``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _on_terminal() -> bool:
    try:
        if not sys.stderr.isatty():
            return False
    except (AttributeError, ValueError):  # replaced by an object without it, or closed
        return False
    try:
        # A terminal of no width (a pseudo-terminal nobody sized) would show tqdm's bar empty.
        return os.get_terminal_size(sys.stderr.fileno()).columns > 0
    except (AttributeError, OSError, ValueError):
        return True  # says it is a terminal but has no descriptor: take its word
