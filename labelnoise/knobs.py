"""Knobs declared once: a setting's type, default and bounds, which the params schema and the
library function that takes the setting both check, with one message format.

A spec is a frozen dataclass whose fields are the knobs of one ``params.yaml`` section: the
field's annotation is the knob's type (``int``, ``float``, ``bool``, ``str``, a ``Literal`` of
choices, a pair ``tuple[T, T]``, a ``list[T]``, any of them ``| None``) and :func:`knob` adds
its bounds. A spec may carry a static method ``joint(values)`` listing the rules between its
knobs that ``values`` breaks. :mod:`labelnoise.params` builds the section's pydantic model from
the spec; a library function calls :func:`check` with the knobs it takes. Every message starts
with the knob's key path (``data.area``) and names the bound and the value.

This module imports the standard library alone, as the specs do
(:mod:`labelnoise.data.config`, :mod:`labelnoise.config`, :mod:`labelnoise.train.config`).
"""

from __future__ import annotations

import numbers
import operator
import types
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

BOUNDS = {
    "ge": (operator.ge, ">="),
    "gt": (operator.gt, ">"),
    "le": (operator.le, "<="),
    "lt": (operator.lt, "<"),
}
"""The bounds a knob may declare: name -> (test ``value <op> bound``, its sign)."""


@dataclass(frozen=True)
class Knob:
    """One declared setting of a spec.

    Attributes
    ----------
    name
        The field's name, the key's last part.
    kind
        Its type annotation.
    default
        Its default (``dataclasses.MISSING`` when it has none).
    bounds
        ``ge``, ``gt``, ``le``, ``lt``: of the value, or of each element of a pair or list.
    ordered
        A pair ``(low, high)`` needs ``low <= high``.
    distinct
        The elements of a list may not repeat.
    min_length
        The fewest elements of a list, or characters of a string.
    item
        What one element is called in messages (``"rate"``).
    """

    name: str
    kind: Any
    default: Any
    bounds: Mapping[str, float]
    ordered: bool = False
    distinct: bool = False
    min_length: int | None = None
    item: str = "value"


def knob(
    default: Any = MISSING,
    *,
    factory: Callable[[], Any] | None = None,
    ordered: bool = False,
    distinct: bool = False,
    min_length: int | None = None,
    item: str = "value",
    **bounds: float,
) -> Any:
    """A spec field: its default (or ``factory`` for a list) and its rules (see :class:`Knob`).

    Raises
    ------
    ValueError
        On a bound other than ``ge``, ``gt``, ``le`` and ``lt``.
    """
    unknown = sorted(set(bounds) - set(BOUNDS))
    if unknown:
        raise ValueError(f"unknown bounds {unknown}; valid: {sorted(BOUNDS)}")
    metadata = {
        "bounds": dict(bounds),
        "ordered": ordered,
        "distinct": distinct,
        "min_length": min_length,
        "item": item,
    }
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@cache
def knobs(spec: type) -> dict[str, Knob]:
    """Every knob of ``spec`` by name, in declaration order (read once per spec: leave the
    defaults unchanged)."""
    hints = get_type_hints(spec)
    declared = {}
    for f in fields(spec):
        meta = dict(f.metadata)
        default = f.default if f.default_factory is MISSING else f.default_factory()
        declared[f.name] = Knob(
            name=f.name,
            kind=hints[f.name],
            default=default,
            bounds=meta.get("bounds", {}),
            ordered=meta.get("ordered", False),
            distinct=meta.get("distinct", False),
            min_length=meta.get("min_length"),
            item=meta.get("item", "value"),
        )
    return declared


def problems(spec: type, section: str, values: Mapping[str, Any]) -> list[str]:
    """Every rule of ``spec`` that ``values`` (some of its knobs, by name) breaks, one message
    each: each knob alone, then, when every knob given holds alone, the rules between them
    (the spec's ``joint``, which applies those whose knobs are all in ``values``).

    Raises
    ------
    ValueError
        When ``values`` names a knob that ``spec`` does not declare.
    """
    declared = knobs(spec)
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise ValueError(f"{section} declares no knobs {unknown}; valid: {sorted(declared)}")
    found = [
        problem
        for name, value in values.items()
        for problem in knob_problems(declared[name], value, section=section)
    ]
    joint = getattr(spec, "joint", None)
    return found or (joint(values) if joint else [])


def check(spec: type, section: str, values: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` listing every rule of ``spec`` that ``values`` breaks
    (:func:`problems`); nothing when there is none."""
    found = problems(spec, section, values)
    if found:
        raise ValueError("; ".join(found))


def check_item(spec: type, section: str, name: str, value: Any) -> None:
    """Raise ``ValueError`` unless ``value`` is a valid element of the list knob ``name`` (one
    noise rate of ``noise.rates``)."""
    declared = knobs(spec)[name]
    kind, _ = _optional(declared.kind)
    rule = _number_rule(get_args(kind)[0], value, declared.bounds)
    if rule:
        key = f"{section}.{name}"
        raise ValueError(f"{key}: each {declared.item} must {rule}, got {_show(value)}")


def choice_problems(key: str, value: Any, choices: Any) -> list[str]:
    """One message when ``value`` is not among the ``Literal`` ``choices``, else none."""
    valid = get_args(choices)
    if isinstance(value, Hashable) and value in valid:
        return []
    return [f"{key}: unknown {_show(value)}; valid: {', '.join(map(str, valid))}"]


def knob_problems(declared: Knob, value: Any, *, section: str) -> list[str]:
    """Every rule of one knob that ``value`` breaks, one message each (empty if none)."""
    key = f"{section}.{declared.name}"
    kind, optional = _optional(declared.kind)
    if value is None:
        return [] if optional else [f"{key} must be given, got None"]
    origin = get_origin(kind)
    if origin is Literal:
        return choice_problems(key, value, kind)
    if kind in (int, float):
        rule = _number_rule(kind, value, declared.bounds)
        return [f"{key} must {rule}, got {_show(value)}"] if rule else []
    if kind is str and declared.min_length and isinstance(value, str):
        if len(value) < declared.min_length:
            return [
                f"{key} must be at least {declared.min_length} character(s) long, got {value!r}"
            ]
        return []
    if origin in (tuple, list):
        return _sequence_problems(key, declared, kind, value)
    return []


def _optional(kind: Any) -> tuple[Any, bool]:
    """``(T, True)`` for ``T | None``, else ``(kind, False)``."""
    if get_origin(kind) in (Union, types.UnionType):
        rest = [arg for arg in get_args(kind) if arg is not type(None)]
        if len(rest) == 1 and len(rest) < len(get_args(kind)):
            return rest[0], True
    return kind, False


def _number_rule(kind: Any, value: Any, bounds: Mapping[str, float]) -> str | None:
    """The rule a number breaks (``"be an integer"``, ``"lie in [0, 1)"``), or None."""
    integral = kind is int
    if isinstance(value, bool) or not isinstance(
        value, numbers.Integral if integral else numbers.Real
    ):
        return "be an integer" if integral else "be a number"
    if all(BOUNDS[name][0](value, bound) for name, bound in bounds.items()):
        return None
    return _range(bounds)


def _sequence_problems(key: str, declared: Knob, kind: Any, value: Any) -> list[str]:
    """The messages of a pair or list knob: its shape, its elements' type and bounds, its
    order and repeats."""
    args = get_args(kind)
    pair = get_origin(kind) is tuple and len(args) == 2 and args[1] is not Ellipsis
    items = list(value) if _is_sequence(value) else None
    if items is None or (pair and len(items) != 2):
        shape = "a pair (low, high)" if pair else "a list"
        return [f"{key} must be {shape}, got {_show(value)}"]
    if declared.min_length and len(items) < declared.min_length:
        count = "one" if declared.min_length == 1 else str(declared.min_length)
        plural = "" if declared.min_length == 1 else "s"
        return [f"{key} must hold at least {count} {declared.item}{plural}, got {_show(items)}"]
    if args[0] not in (int, float):
        return []
    for x in items:
        rule = _number_rule(args[0], x, declared.bounds)
        if rule:
            return [f"{key}: each {declared.item} must {rule}, got {_show(items)}"]
    if pair and declared.ordered and items[0] > items[1]:
        return [f"{key} must be (low, high) with low <= high, got {_show(items)}"]
    if declared.distinct and len(set(items)) != len(items):
        return [f"{key} must be distinct, got {_show(items)}"]
    return []


def _is_sequence(value: Any) -> bool:
    return isinstance(value, Iterable) and not isinstance(value, str | bytes | Mapping)


def _range(bounds: Mapping[str, float]) -> str:
    """``"lie in [0, 1)"`` for a lower and an upper bound, ``"be >= 8"`` for one."""
    low = [(name, b) for name, b in bounds.items() if name in ("ge", "gt")]
    high = [(name, b) for name, b in bounds.items() if name in ("le", "lt")]
    if len(low) == 1 and len(high) == 1:
        (lname, lo), (hname, hi) = low[0], high[0]
        left, right = "[" if lname == "ge" else "(", "]" if hname == "le" else ")"
        return f"lie in {left}{_number(lo)}, {_number(hi)}{right}"
    return " and ".join(f"be {BOUNDS[name][1]} {_number(b)}" for name, b in bounds.items())


def _number(bound: float) -> str:
    return f"{bound:g}" if isinstance(bound, float) else str(bound)


def _show(value: Any) -> str:
    """``repr`` of a value, with NumPy scalars written as Python numbers and any sequence of
    numbers as a list."""
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(x) for x in value) + "]"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return repr(value)
    return repr(int(value) if isinstance(value, numbers.Integral) else float(value))
