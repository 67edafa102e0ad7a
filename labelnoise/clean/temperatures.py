"""The temperatures that Data Parameters (:mod:`labelnoise.clean.data_params`) learns: which of
them (``Learn``) and the range every one is clamped to.

Both sides of the method read these: the method itself, which is read with the params and
imports no torch, and its trainer hook (:mod:`labelnoise.clean.data_params_hook`). They live
here, apart from both and without torch, so that each imports them and neither the other.
"""

from __future__ import annotations

from typing import Literal, get_args

Learn = Literal["both", "instance", "class"]
LEARN_CHOICES: tuple[str, ...] = get_args(Learn)
SIGMA_MIN, SIGMA_MAX = 1.0 / 20.0, 20.0
"""Range every learned temperature is clamped to."""
