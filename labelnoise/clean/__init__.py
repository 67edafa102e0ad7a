"""Label-noise cleaning methods behind one interface.

``METHODS`` maps each method name to its implementation. Implementations are imported on first
use, so importing this package does not pull in torch or cleanlab, and one module that fails to
import does not stop the others from working. A method is one module with a
:class:`CleaningMethod` subclass, one line in ``_TARGETS`` (or, for a method kept in a package
of your own, an entry point in the ``labelnoise.methods`` group) and its params block
``clean.<name>`` in ``params.yaml``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from importlib.metadata import entry_points

from labelnoise.clean.base import (
    CleanContext,
    CleaningMethod,
    CleanResult,
    load_result,
    params_model,
    save_result,
)

BASELINE = "none"
"""The method that keeps every example: its arm is the baseline, trained on the noisy labels."""

CEILING = "oracle"
"""The method that drops exactly the false labels: the most any cleaning can recover."""

ENTRY_POINT_GROUP = "labelnoise.methods"
"""Entry-point group of cleaning methods from other packages: ``name = "module:Class"``."""

_TARGETS: dict[str, str] = {
    "none": "labelnoise.clean.baselines:NoCleaning",
    "oracle": "labelnoise.clean.baselines:Oracle",
    "random": "labelnoise.clean.baselines:RandomCleaning",
    "cleanlab": "labelnoise.clean.cleanlab_method:Cleanlab",
    "mistakenness": "labelnoise.clean.fiftyone:Mistakenness",
    "hardness": "labelnoise.clean.fiftyone:Hardness",
    "knn": "labelnoise.clean.knn:NeighbourVote",
    "tvnet": "labelnoise.clean.tvnet:TrainingValueNet",
    "data_params": "labelnoise.clean.data_params:DataParameters",
    "aum": "labelnoise.clean.aum:AreaUnderMargin",
    "consensus": "labelnoise.clean.consensus:Consensus",
}


class _LazyRegistry(Mapping[str, CleaningMethod]):
    """Read-only mapping from method name to an instance, importing the module on first access."""

    def __init__(self, targets: dict[str, str]) -> None:
        self._builtin = dict(targets)
        self._all: dict[str, str] | None = None  # with the entry points, found on first use
        self._loaded: dict[str, CleaningMethod] = {}

    @property
    def _targets(self) -> dict[str, str]:
        if self._all is None:
            found = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
            clash = sorted(set(found) & set(self._builtin))
            if clash:
                raise ValueError(
                    f"entry points of {ENTRY_POINT_GROUP!r} name built-in methods {clash}: "
                    "rename them"
                )
            self._all = {**self._builtin, **found}
        return self._all

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
            if not (isinstance(cls, type) and issubclass(cls, CleaningMethod)):
                raise ImportError(
                    f"cleaning method {name!r} ({self._targets[name]}) is not a "
                    "labelnoise.clean.CleaningMethod subclass"
                )
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


def load_error(name: str) -> str | None:
    """Why the registered method ``name`` cannot be loaded (its module fails to import, or the
    target is no :class:`CleaningMethod`), or None when it loads."""
    try:
        METHODS[name]
    except ImportError as err:
        return str(err)
    return None


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
    if name not in METHODS:
        raise ValueError(f"unknown cleaning method {name!r}; valid: {', '.join(METHODS)}")
    return METHODS[name]


__all__ = [
    "BASELINE",
    "CEILING",
    "ENTRY_POINT_GROUP",
    "METHODS",
    "CleanContext",
    "CleanResult",
    "CleaningMethod",
    "get_method",
    "load_error",
    "load_result",
    "params_model",
    "save_result",
]
