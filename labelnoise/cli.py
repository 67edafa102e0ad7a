"""What every stage script shares: one-line errors and a non-zero exit instead of a traceback,
and the wall time of a stage that finished."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable

from labelnoise.progress import format_duration


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's ``main``; bad input — a ``ValueError``, or a file or folder that is missing,
    unreadable or of the wrong kind — becomes one ``error: ...`` line and exit 2.

    SIGTERM is handled like Ctrl-C: outputs are written atomically and training checkpoints
    after every epoch, so an interrupted stage leaves its previous outputs (or none) and the
    next ``dvc repro`` resumes. It exits 130 with a message. Anything else keeps its traceback,
    as it is a bug.

    A stage that finishes ends with ``stage done in <wall time>`` on stderr, beside its
    progress, so that stdout holds only its results; under torchrun only the first process
    says it.
    """
    signal.signal(signal.SIGTERM, _interrupt)
    start = time.monotonic()
    try:
        main()
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as err:
        where = f"{err.filename}: {err.strerror}" if err.filename and err.strerror else err
        print(f"error: {where}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: finished outputs are kept; run `dvc repro` to resume", file=sys.stderr)
        sys.exit(130)
    if os.environ.get("RANK", "0") == "0":
        print(f"stage done in {format_duration(time.monotonic() - start)}", file=sys.stderr)
