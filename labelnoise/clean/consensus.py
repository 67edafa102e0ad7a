"""Consensus of several cleaning methods: majority vote on flags, mean rank of scores."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.stats import rankdata

from labelnoise.clean.base import (
    CleanContext,
    CleanResult,
    check_flags,
    check_scores,
    reject_unknown_params,
)


def combine(results: Mapping[str, CleanResult], *, n: int) -> CleanResult:
    """Combine the results of several methods on the same ``n`` examples.

    Parameters
    ----------
    results : Mapping[str, CleanResult]
        Member results by method name, each with ``(n,)`` scores and flags.
    n : int
        Number of train examples.

    Returns
    -------
    CleanResult
        ``flags``: flagged by a strict majority of members (more than half).
        ``scores``: mean over members of ``rankdata(scores) / n`` in ``(0, 1]`` (ties averaged),
        higher = more likely mislabelled, so members on different scales weigh the same.
        ``noise_rate_estimate``: fraction flagged. extras ``votes``: ``(n,)`` int, members
        flagging each example.
    """
    if not results:
        raise ValueError("consensus: needs at least one member result, got none")
    votes = np.zeros(n, dtype=np.int64)
    ranks = np.zeros(n)
    for member, result in results.items():
        scores = check_scores(f"consensus member {member!r}", result.scores, n)
        votes += check_flags(f"consensus member {member!r}", result.flags, n)
        ranks += rankdata(scores) / n
    flags = 2 * votes > len(results)
    return CleanResult(
        scores=ranks / len(results),
        flags=flags,
        noise_rate_estimate=float(flags.mean()) if n else 0.0,
        extras={"votes": votes},
    )


class Consensus:
    """Registry wrapper around :func:`combine`; members come in the ``results`` parameter."""

    name = "consensus"

    def run(
        self,
        ctx: CleanContext,
        *,
        results: Mapping[str, CleanResult] | None = None,
        **params: Any,
    ) -> CleanResult:
        """Combine member results over the ``ctx.n`` train examples.

        Parameters
        ----------
        ctx : CleanContext
            Only ``ctx.n`` is used.
        results : Mapping[str, CleanResult]
            Member results by method name (required).
        """
        reject_unknown_params(self.name, params)
        if not results:
            raise ValueError("consensus: needs member results in the 'results' parameter")
        return combine(results, n=ctx.n)
