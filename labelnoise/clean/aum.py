"""Area Under the Margin (Pleiss, Zhang, Elenberg & Weinberger, NeurIPS 2020).

The margin of an example at one training step is the logit of its assigned label minus the
largest other logit; its AUM is that margin averaged over the epochs of training. Mislabelled
examples are fitted late or never, so their AUM is low or negative. Where to cut is learned from
"threshold samples": a random subset relabelled to a fake extra class, so known to be mislabelled;
examples whose AUM falls below the ``percentile``-th percentile of the threshold samples' AUMs
are flagged. Threshold samples lose their real label for that training run, so the method trains
``passes`` times with disjoint threshold subsets and scores every example in a pass where it
kept its real label.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labelnoise.clean.base import (
    CleanContext,
    CleaningMethod,
    CleanResult,
    check_labels,
    reject_unknown_params,
)


def threshold_assignment(
    n: int, *, n_threshold: int, passes: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Choose disjoint threshold subsets and the pass that scores each example.

    The examples are shuffled and split into ``passes`` near-equal groups; the threshold samples
    of pass ``k`` are the first ``n_threshold`` of group ``k``, and every example of group ``k``
    is scored by pass ``(k + 1) % passes``, where it keeps its real label.

    Parameters
    ----------
    n : int
        Number of training examples.
    n_threshold : int
        Threshold samples per pass, at most ``n // passes``.
    passes : int
        Number of training runs, at least 2.
    seed : int
        Seed of the shuffle.

    Returns
    -------
    threshold_mask : np.ndarray
        ``(passes, n)`` bool; row ``k`` marks the threshold samples of pass ``k``.
    score_pass : np.ndarray
        ``(n,)`` int64 pass whose AUM scores each example.
    """
    perm = np.random.default_rng(seed).permutation(n)
    threshold_mask = np.zeros((passes, n), dtype=bool)
    score_pass = np.empty(n, dtype=np.int64)
    for k, group in enumerate(np.array_split(perm, passes)):
        threshold_mask[k, group[:n_threshold]] = True
        score_pass[group] = (k + 1) % passes
    return threshold_mask, score_pass


class AreaUnderMargin(CleaningMethod):
    """Cleaning method ``aum``: −(area under the margin) as suspicion score."""

    name = "aum"
    trains_model = True  # the stage builds ctx.train_config (and imports torch) only for these

    def run(
        self,
        ctx: CleanContext,
        *,
        threshold_frac: float | None = None,
        percentile: float = 99.0,
        passes: int = 2,
        **params: Any,
    ) -> CleanResult:
        """Train ``passes`` networks with threshold samples and score every training example.

        Parameters
        ----------
        ctx : CleanContext
            Needs ``images``, ``labels``, ``n_classes`` and ``train_config``. Each pass trains a
            ``n_classes + 1``-way network with ``ctx.train_config``.
        threshold_frac : float or None
            Fraction of the train set relabelled to the fake class in each pass; None =
            ``1 / (n_classes + 1)``, as in the paper. At most ``1 / passes``.
        percentile : float
            Percentile (0..100) of the threshold samples' AUMs used as the cut.
        passes : int
            Training runs with disjoint threshold subsets (at least 2, so that every example is
            scored under its real label).

        Returns
        -------
        CleanResult
            ``scores`` ``(n,)`` = −AUM from the pass where the example kept its label (higher =
            more likely mislabelled); ``flags`` = AUM below that pass's threshold.
            ``extras``: ``aum`` ``(n,)``, ``threshold`` ``(passes,)`` AUM cut of each pass,
            ``aum_passes`` ``(passes, n)`` AUM of every example in every pass (under the fake
            label for threshold samples), ``threshold_mask`` ``(passes, n)`` bool,
            ``score_pass`` ``(n,)`` pass that scored each example.
        """
        reject_unknown_params(self.name, params)
        if ctx.images is None or ctx.train_config is None:
            raise ValueError(f"{self.name}: needs ctx.images and ctx.train_config to train")
        labels = check_labels(ctx.labels, n_classes=ctx.n_classes, name=self.name)
        n = len(labels)
        if len(ctx.images) != n:
            raise ValueError(
                f"{self.name}: ctx.images has {len(ctx.images)} rows but ctx.labels has {n}"
            )
        if isinstance(passes, bool) or not isinstance(passes, int) or passes < 2:
            raise ValueError(f"{self.name}: passes={passes!r} must be an int >= 2")
        if not 0.0 <= percentile <= 100.0:
            raise ValueError(f"{self.name}: percentile={percentile!r} is not in [0, 100]")
        if threshold_frac is None:
            threshold_frac = 1.0 / (ctx.n_classes + 1)
        if not 0.0 < threshold_frac <= 1.0 / passes:
            raise ValueError(
                f"{self.name}: threshold_frac={threshold_frac!r} must be in (0, 1/passes]"
            )
        n_threshold = max(1, round(threshold_frac * n))
        if n_threshold > n // passes:
            raise ValueError(
                f"{self.name}: {n} examples are too few for {passes} passes of "
                f"{n_threshold} threshold samples"
            )

        from labelnoise.clean.aum_hook import AUMHook
        from labelnoise.train import fit

        rng = np.random.default_rng(ctx.seed)
        threshold_mask, score_pass = threshold_assignment(
            n, n_threshold=n_threshold, passes=passes, seed=int(rng.integers(2**31))
        )
        fake = ctx.n_classes
        aum_passes = np.empty((passes, n), dtype=np.float64)
        thresholds = np.empty(passes, dtype=np.float64)
        for k in range(passes):
            pass_labels = np.where(threshold_mask[k], fake, labels)
            hook = AUMHook(n, label_smoothing=ctx.train_config.label_smoothing)
            fit(
                ctx.images,
                pass_labels,
                n_classes=ctx.n_classes + 1,
                config=ctx.train_config,
                seed=int(rng.integers(2**31)),
                hook=hook,
                progress=ctx.progress,
                desc=f"{self.name} pass {k + 1}/{passes}",
            )
            aum_passes[k] = hook.aum()
            thresholds[k] = np.percentile(aum_passes[k, threshold_mask[k]], percentile)

        aum = aum_passes[score_pass, np.arange(n)]
        flags = aum < thresholds[score_pass]
        return CleanResult(
            scores=-aum,
            flags=flags,
            noise_rate_estimate=float(flags.mean()) if n else 0.0,
            extras={
                "aum": aum.astype(np.float32),
                "threshold": thresholds,
                "aum_passes": aum_passes.astype(np.float32),
                "threshold_mask": threshold_mask,
                "score_pass": score_pass,
            },
        )
