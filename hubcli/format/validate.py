"""Field-by-field validation of decoded (JSON or msgpack) values.

Every dataset file is untrusted input: a reader must raise CorruptDatasetError on a
missing field or a wrong type, never a KeyError or a TypeError deep in the reader.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeVar

from hubcli.errors import CorruptDatasetError
from hubcli.format.limits import MAX_INT

T = TypeVar("T")


def as_map(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise CorruptDatasetError(f"{where}: expected a map with string keys")
    return value


def field(data: Mapping[str, Any], name: str, kind: type[T], where: str) -> T:
    """``data[name]``, which must exist and be a ``kind`` (bool is not an int here)."""
    if name not in data:
        raise CorruptDatasetError(f"{where}: missing field {name!r}")
    value = data[name]
    if kind is int and isinstance(value, bool):
        raise CorruptDatasetError(f"{where}: field {name!r} must be an integer")
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value) if abs(value) <= MAX_INT else math.inf
    if not isinstance(value, kind):
        raise CorruptDatasetError(f"{where}: field {name!r} must be of type {kind.__name__}")
    # Every number of the format fits an int64 (format_spec/limits.md): larger ones would
    # overflow seeks and numpy arrays; a non-finite float is never a valid value.
    if isinstance(value, int) and abs(value) > MAX_INT:
        raise CorruptDatasetError(f"{where}: field {name!r} does not fit a 64-bit integer")
    if isinstance(value, float) and not math.isfinite(value):
        raise CorruptDatasetError(f"{where}: field {name!r} must be a finite number")
    return value


def non_negative(data: Mapping[str, Any], name: str, where: str) -> int:
    value = field(data, name, int, where)
    if value < 0:
        raise CorruptDatasetError(f"{where}: field {name!r} must be >= 0, got {value}")
    return value


def int_list(data: Mapping[str, Any], name: str, length: int, where: str) -> list[int]:
    value = field(data, name, list, where)
    if len(value) != length or not all(
        isinstance(v, int) and not isinstance(v, bool) and abs(v) <= MAX_INT for v in value
    ):
        raise CorruptDatasetError(f"{where}: field {name!r} must be {length} 64-bit integers")
    return value


def one_of(data: Mapping[str, Any], name: str, allowed: tuple[str, ...], where: str) -> str:
    value = field(data, name, str, where)
    if value not in allowed:
        raise CorruptDatasetError(f"{where}: field {name!r} is {value!r}, not one of {allowed}")
    return value
