"""Label-noise cleaning methods behind one interface.

``METHODS`` maps each method name to its implementation. Implementations are imported on first
use, so importing this package does not pull in torch or cleanlab, and one module that fails to
import does not stop the others from working.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from labelnoise.clean.base import (
    CleanContext,
    CleaningMethod,
    CleanResult,
    load_result,
    save_result,
)

_TARGETS: dict[str, str] = {
    "none": "labelnoise.clean.baselines:NoCleaning",
    "oracle": "labelnoise.clean.baselines:Oracle",
    "random": "labelnoise.clean.baselines:RandomCleaning",
    "cleanlab": "labelnoise.clean.cleanlab_method:Cleanlab",
    "mistakenness": "labelnoise.clean.fiftyone:Mistakenness",
    "hardness": "labelnoise.clean.fiftyone:Hardness",
    "tvnet": "labelnoise.clean.tvnet:TrainingValueNet",
    "data_params": "labelnoise.clean.data_params:DataParameters",
    "aum": "labelnoise.clean.aum:AreaUnderMargin",
    "consensus": "labelnoise.clean.consensus:Consensus",
}

# Methods that train models of their own (a network, or Training-ValueNet's Monte-Carlo value
# estimates): the pipeline gives each its own stage. Kept here so checking params stays light.
MODEL_TRAINING = frozenset({"tvnet", "data_params", "aum"})

# Reference points rather than ways to clean: keep everything, or read the true flips (the
# methods with ``needs_truth``). Results are summed up over the other methods. Kept here so that
# reading results imports no method.
REFERENCE = frozenset({"none", "oracle", "random"})


class _LazyRegistry(Mapping[str, CleaningMethod]):
    """Read-only mapping from method name to an instance, importing the module on first access."""

    def __init__(self, targets: dict[str, str]) -> None:
        self._targets = dict(targets)
        self._loaded: dict[str, CleaningMethod] = {}

    def __getitem__(self, name: str) -> CleaningMethod:
        if name not in self._loaded:
            module_name, class_name = self._targets[name].split(":")
            try:
                cls = getattr(importlib.import_module(module_name), class_name)
            except (ImportError, AttributeError) as exc:
                raise ImportError(
                    f"cleaning method {name!r} could not be loaded from "
                    f"{self._targets[name]}: {exc}"
                ) from exc
            self._loaded[name] = cls()
        return self._loaded[name]

    def __contains__(self, name: object) -> bool:
        # Mapping's default would import the method to answer; a name check must stay light.
        return name in self._targets

    def __iter__(self) -> Iterator[str]:
        return iter(self._targets)

    def __len__(self) -> int:
        return len(self._targets)


METHODS: Mapping[str, CleaningMethod] = _LazyRegistry(_TARGETS)


def get_method(name: str) -> CleaningMethod:
    """Return the cleaning method registered as ``name``.

    Parameters
    ----------
    name : str
        One of ``METHODS``' keys.

    Raises
    ------
    ValueError
        If ``name`` is not registered; the message lists the valid names.
    """
    if name not in _TARGETS:
        raise ValueError(f"unknown cleaning method {name!r}; valid: {', '.join(_TARGETS)}")
    return METHODS[name]


__all__ = [
    "METHODS",
    "MODEL_TRAINING",
    "REFERENCE",
    "CleanContext",
    "CleanResult",
    "CleaningMethod",
    "get_method",
    "load_result",
    "save_result",
]
