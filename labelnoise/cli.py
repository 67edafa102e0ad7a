"""What every stage script shares: one-line errors and a non-zero exit instead of a traceback."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's ``main``; bad input — a ``ValueError``, or a file or folder that is missing,
    unreadable or of the wrong kind — becomes one ``error: ...`` line and exit 2.

    SIGTERM is handled like Ctrl-C: outputs are written atomically and training checkpoints
    after every epoch, so an interrupted stage leaves its previous outputs (or none) and the
    next ``dvc repro`` resumes. It exits 130 with a message. Anything else keeps its traceback,
    as it is a bug.
    """
    signal.signal(signal.SIGTERM, _interrupt)
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
