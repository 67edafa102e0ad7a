"""The knobs of label-noise injection (:mod:`labelnoise.noise`) and of the regressions
(:mod:`labelnoise.regress`), each declared once: its type, its default and its bounds.

:class:`NoiseConfig` declares ``params.yaml``'s ``noise`` section and :class:`RegressConfig`
its ``regress`` section; the params schema (:mod:`labelnoise.params`) is built from them and
:func:`labelnoise.noise.corrupt_labels`, :func:`labelnoise.regress.fit_accuracy` and
:func:`labelnoise.regress.accuracy_fit_table` check their arguments against them
(:func:`labelnoise.knobs.check`), so a value the schema accepts is one they accept. The
defaults are ``params.yaml``'s (``tests/test_params.py`` holds them equal). This module imports
the standard library alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from labelnoise.knobs import knob

NoiseKind = Literal["symmetric", "pairflip", "within_coarse", "matrix"]
"""How a falsified label moves: to any other class, to the next, to a sibling subclass, or by a
transition matrix."""


@dataclass(frozen=True)
class NoiseConfig:
    """The ``noise`` section: the grid of false-label rates and how labels are falsified."""

    # knob(factory=...) is a dataclasses.field with a default_factory: no shared list.
    rates: list[float] = knob(  # noqa: RUF009
        factory=lambda: [0.0, 0.1, 0.2, 0.4],
        ge=0.0,
        lt=1.0,
        min_length=1,
        distinct=True,
        item="rate",
    )
    kind: NoiseKind = "symmetric"
    matrix: list[list[float]] | None = None  # C×C row-stochastic, when kind is matrix
    inject_own: bool = False  # your own images: falsify them at the rates too

    @staticmethod
    def joint(values: Mapping[str, Any]) -> list[str]:
        """The rules between noise knobs that ``values`` breaks (each knob valid alone)."""
        if values.get("kind") == "matrix" and "matrix" in values and values["matrix"] is None:
            return ["noise.matrix is required when noise.kind is 'matrix'"]
        return []


@dataclass(frozen=True)
class RegressConfig:
    """The ``regress`` section: the fits of accuracy on the false-label rate."""

    bootstrap: int = knob(2000, ge=100)  # parametric-bootstrap draws of the interval fits
    # Accuracy drops, in points, whose false-label rate is reported.
    drops: list[float] = knob(  # noqa: RUF009
        factory=lambda: [1.0, 5.0], gt=0.0, lt=100.0, min_length=1, item="drop"
    )
    reference: str = "none"  # the arm the GLM contrasts the others against (the baseline)
    grid: int = knob(41, ge=2)  # rates the fitted accuracy curves are drawn at


REGRESS = RegressConfig()
"""Every regress knob at its default."""
