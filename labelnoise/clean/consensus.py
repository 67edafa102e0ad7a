"""Consensus of several cleaning methods: majority vote on flags, mean rank of scores."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from labelnoise.clean.base import (
    CleanContext,
    CleaningMethod,
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
    from scipy.stats import rankdata

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


class Consensus(CleaningMethod):
    """Registry wrapper around :func:`combine`: the vote of ``members`` (``clean.consensus``)."""

    name = "consensus"
    combines = True  # votes over the results of its members at the same rate

    def run(
        self, ctx: CleanContext, *, members: tuple[str, ...] = ("cleanlab", "knn"), **params: Any
    ) -> CleanResult:
        """Combine the results of ``members`` over the ``ctx.n`` train examples.

        Parameters
        ----------
        ctx : CleanContext
            ``ctx.results`` holds the member results by method name; only they and ``ctx.n``
            are read.
        members : tuple of str
            The methods that vote (at least one; none of them a reference arm).
        """
        reject_unknown_params(self.name, params)
        if not members:
            raise ValueError("consensus: needs at least one member in 'members'")
        available = ctx.results or {}
        missing = [name for name in members if name not in available]
        if missing:
            raise ValueError(
                f"consensus: no results of members {missing} in the context; "
                f"available: {sorted(available)}"
            )
        return combine({name: available[name] for name in members}, n=ctx.n)
