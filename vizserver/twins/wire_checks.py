"""Strict checkers for the JSON headers of twin-worker messages (:mod:`vizserver.twins.wire`): each takes
``(value, where)`` and returns the checked value or raises :class:`WireError` with a one-line message that
names the field (``where``). Pure, bounded: every list, object, string and integer has a limit."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from vizserver.errors import VizServerError

MAX_LIST_ITEMS = 4096
"""Most entries in any list or object of a header (tags, parameters, values)."""
MAX_TEXT_CHARS = 2000
"""Longest string in a header (names, units, descriptions, messages)."""
MAX_TAG = (1 << 53) - 1
"""Tags are non-negative integers a JSON number holds exactly."""


class WireError(VizServerError):
    """A twin-worker message is malformed; the link that carried it is no longer trusted."""


Checker = Callable[[object, str], Any]
"""Checks ``(value, where)``: the checked value, or :class:`WireError` naming ``where``."""


def fields(
    obj: Mapping[str, Any],
    where: str,
    required: Mapping[str, Checker],
    optional_fields: Mapping[str, Checker] | None = None,
) -> dict[str, Any]:
    """The checked fields of ``obj``; missing or extra ones are errors."""
    optional_fields = optional_fields or {}
    present = set(obj)
    missing = [k for k in required if k not in present]
    if missing:
        raise WireError(f"{where}: missing field(s) {', '.join(missing)}")
    extra = sorted(present - set(required) - set(optional_fields))
    if extra:
        raise WireError(f"{where}: unexpected field(s) {', '.join(short(k) for k in extra)}")
    checkers = {**required, **optional_fields}
    return {k: checkers[k](obj[k], f"{where}.{k}") for k in present}


def body(header: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in header.items() if k not in ("type", "blobs")}


def no_blobs(where: str, blobs: list[memoryview]) -> None:
    if blobs:
        raise WireError(f"{where}: carries no blobs, got {len(blobs)}")


def as_object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WireError(f"{where}: expected an object, got {kind(value)}")
    if len(value) > MAX_LIST_ITEMS:
        raise WireError(f"{where}: more than {MAX_LIST_ITEMS} entries")
    return value


def list_of(item: Checker) -> Checker:
    def check(value: object, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise WireError(f"{where}: expected a list, got {kind(value)}")
        if len(value) > MAX_LIST_ITEMS:
            raise WireError(f"{where}: more than {MAX_LIST_ITEMS} items")
        return [item(v, f"{where}[{i}]") for i, v in enumerate(value)]

    return check


def map_of(item: Checker) -> Checker:
    def check(value: object, where: str) -> dict[str, Any]:
        return {text(k, where): item(v, f"{where}.{k}") for k, v in as_object(value, where).items()}

    return check


def optional(item: Checker) -> Checker:
    def check(value: object, where: str) -> Any:
        return None if value is None else item(value, where)

    return check


def text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise WireError(f"{where}: expected a string, got {kind(value)}")
    if len(value) > MAX_TEXT_CHARS:
        raise WireError(f"{where}: longer than {MAX_TEXT_CHARS} characters")
    return value


def boolean(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise WireError(f"{where}: expected true or false, got {kind(value)}")
    return value


def count(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TAG:
        raise WireError(f"{where}: expected a positive integer, got {short(value)}")
    return value


def tag(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TAG:
        raise WireError(f"{where}: expected a tag (integer 0..2^53-1), got {short(value)}")
    return value


def number(minimum: float | None = None, positive: bool = False) -> Checker:
    def check(value: object, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise WireError(f"{where}: expected a finite number, got {short(value)}")
        if (minimum is not None and value < minimum) or (positive and value <= 0):
            raise WireError(f"{where}: {value} is out of range")
        return float(value)

    return check


def one_of(*choices: str) -> Checker:
    def check(value: object, where: str) -> str:
        if value not in choices:
            raise WireError(f"{where}: expected one of {', '.join(choices)}, got {short(value)}")
        return str(value)

    return check


def value_range(value: object, where: str) -> tuple[float, float]:
    items = list_of(number())(value, where)
    if len(items) != 2 or items[0] > items[1]:
        raise WireError(f"{where}: expected [low, high] with low <= high, got {short(value)}")
    return items[0], items[1]


def point(value: object, where: str) -> tuple[float, float, float]:
    items = list_of(number())(value, where)
    if len(items) != 3:
        raise WireError(f"{where}: expected [x, y, z], got {len(items)} number(s)")
    return items[0], items[1], items[2]


def non_finite(token: str) -> float:
    raise ValueError(f"{token} is not a finite number")


def finite_float(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):
        raise ValueError(f"{token[:20]} is not a finite number")
    return value


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def kind(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
