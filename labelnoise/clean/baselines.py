"""Reference points for the cleaning methods: keep everything, drop exactly the flips, or drop
the same number of examples at random."""

from __future__ import annotations

from typing import Any

import numpy as np

from labelnoise.clean.base import (
    CleanContext,
    CleaningMethod,
    CleanResult,
    reject_unknown_params,
)


def _ground_truth(ctx: CleanContext, name: str) -> np.ndarray | None:
    if ctx.flipped is None:
        return None
    flipped = np.asarray(ctx.flipped)
    if flipped.shape != (ctx.n,) or flipped.dtype != np.bool_:
        raise ValueError(
            f"{name}: flipped must be a bool array of shape ({ctx.n},), "
            f"got {flipped.dtype} {flipped.shape}"
        )
    return flipped


class NoCleaning(CleaningMethod):
    """Keep every example: no flags, all scores zero, estimated noise rate 0."""

    name = "none"
    reference = True  # the noisy baseline itself

    def run(self, ctx: CleanContext, **params: Any) -> CleanResult:
        """Return an all-clean result for the ``n`` train examples of ``ctx``."""
        reject_unknown_params(self.name, params)
        return CleanResult(
            scores=np.zeros(ctx.n), flags=np.zeros(ctx.n, dtype=bool), noise_rate_estimate=0.0
        )


class Oracle(CleaningMethod):
    """Flag exactly the corrupted examples (``ctx.flipped``): the upper bound for cleaning.

    Scores are 1.0 for flips and 0.0 otherwise.
    """

    name = "oracle"
    reference = True  # the ceiling
    needs_truth = True  # the pipeline hands it the true flips; no real method sees them
    suggests_truth = True  # its relabel arm gives every flagged example its true label

    def run(self, ctx: CleanContext, **params: Any) -> CleanResult:
        """Return flags equal to ``ctx.flipped``; ``ValueError`` if there is no ground truth."""
        reject_unknown_params(self.name, params)
        flipped = _ground_truth(ctx, self.name)
        if flipped is None:
            raise ValueError("oracle: needs ground truth ctx.flipped, which is None")
        return CleanResult(
            scores=flipped.astype(np.float64),
            flags=flipped.copy(),
            noise_rate_estimate=float(flipped.mean()) if ctx.n else 0.0,
        )


class RandomCleaning(CleaningMethod):
    """Flag a random subset as large as the true number of flips.

    Scores are uniform on ``[0, 1)`` and the flagged examples are the ``k`` highest-scoring ones,
    so scores and flags agree; AUROC against the flips is 0.5 in expectation.
    """

    name = "random"
    reference = True  # the floor
    needs_truth = True  # flags as many as there are true flips

    def run(self, ctx: CleanContext, *, n_flag: int | None = None, **params: Any) -> CleanResult:
        """Flag ``k`` examples chosen at random with ``ctx.seed``.

        Parameters
        ----------
        ctx : CleanContext
            Uses ``ctx.n``, ``ctx.seed`` and, when ``n_flag`` is None, ``ctx.flipped``.
        n_flag : int or None
            Number of examples to flag. None (default) = ``ctx.flipped.sum()``; an explicit
            value takes precedence over the ground truth.
        """
        reject_unknown_params(self.name, params)
        flipped = _ground_truth(ctx, self.name)
        if n_flag is None:
            if flipped is None:
                raise ValueError("random: needs n_flag or ground truth ctx.flipped (both None)")
            k = int(flipped.sum())
        else:
            k = int(n_flag)
            if k != n_flag or not 0 <= k <= ctx.n:
                raise ValueError(f"random: n_flag must be an integer in 0..{ctx.n}, got {n_flag!r}")
        rng = np.random.default_rng(ctx.seed)
        scores = rng.random(ctx.n)
        flags = np.zeros(ctx.n, dtype=bool)
        flags[np.argsort(-scores, kind="stable")[:k]] = True
        return CleanResult(
            scores=scores, flags=flags, noise_rate_estimate=k / ctx.n if ctx.n else 0.0
        )
