"""What every stage script shares: one-line errors and a non-zero exit instead of a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's ``main``; a ``ValueError`` (bad input) becomes ``error: ...`` and exit 2.

    An interrupt exits 130 with a message; anything else keeps its traceback, as it is a bug.
    """
    try:
        main()
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: finished outputs are kept; run `dvc repro` to resume", file=sys.stderr)
        sys.exit(130)
