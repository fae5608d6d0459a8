"""JSON <-> dataclasses: one strict reader and one writer for the whole report.

Reading rejects what the type does not name (an unknown or misspelt key, a missing
field, a value of the wrong kind), so that a typo is an error, not a silent None.
Writing emits the fields in their declared order, which is the order of the keys in
``docs/benchmarks.json``; a field whose metadata is ``OMIT`` is left out while None
(the old report only wrote those keys when it had a value). Numbers are kept as they
come (an int stays an int), so that reading a report and writing it again gives the
same bytes.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import types
import typing
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")

#: Field metadata: leave the key out while the value is None.
OMIT_NONE = "omit_none"
#: Field metadata: the key's name in JSON, where it is not a Python name ("pass").
JSON_NAME = "json_name"


#: ``field(default=None, metadata=OMIT)``: None by default, absent from the JSON while None.
OMIT = types.MappingProxyType({OMIT_NONE: True})


def json_key(name: str) -> types.MappingProxyType[str, str]:
    """``field(metadata=json_key("pass"))``: the field's key in the JSON is ``name``."""
    return types.MappingProxyType({JSON_NAME: name})


class ModelError(ValueError):
    """A JSON document does not fit the report's types."""


def json_name(f: dataclasses.Field[Any]) -> str:
    return str(f.metadata.get(JSON_NAME, f.name))


# --- writing ------------------------------------------------------------------------


def to_json(value: object) -> Any:
    """``value`` as plain JSON data; a float that is not finite becomes None (JSON has
    no NaN), as the old report did."""
    custom = getattr(value, "to_json", None)
    if callable(custom) and dataclasses.is_dataclass(value):
        return custom()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _fields_to_json(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {_key_to_json(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _fields_to_json(value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(value):
        item = getattr(value, f.name)
        if item is None and f.metadata.get(OMIT_NONE):
            continue
        out[json_name(f)] = to_json(item)
    return out


def _key_to_json(key: object) -> str:
    return str(key.value) if isinstance(key, enum.Enum) else str(key)


# --- reading ------------------------------------------------------------------------


def from_json(tp: type[T], data: object, where: str = "$") -> T:
    """``data`` read as a ``tp``; ``where`` names the place in errors (``$.local...``)."""
    return typing.cast("T", _read(tp, data, where))


def _read(tp: Any, data: object, where: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return data
    if origin is Union or origin is types.UnionType:
        return _read_union(tp, data, where)
    if origin is list:
        items = enumerate(_is(list, data, where))
        return [_read(get_args(tp)[0], x, f"{where}[{n}]") for n, x in items]
    if origin is dict:
        key_type, value_type = get_args(tp)
        pairs = _is(dict, data, where).items()
        return {
            _read_key(key_type, k, where): _read(value_type, v, f"{where}.{k}") for k, v in pairs
        }
    if dataclasses.is_dataclass(tp):
        custom = getattr(tp, "from_json", None)
        return custom(data, where) if callable(custom) else _read_fields(tp, data, where)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(data)
        except ValueError:
            raise ModelError(f"{where}: {data!r} is not one of {[e.value for e in tp]}") from None
    return _read_plain(tp, data, where)


def _read_plain(tp: Any, data: object, where: str) -> Any:
    if tp is type(None):
        ok = data is None
    elif tp is float:  # JSON writes 12.0 as 12: an int is a float here
        ok = isinstance(data, int | float) and not isinstance(data, bool)
    elif tp is int:
        ok = isinstance(data, int) and not isinstance(data, bool)
    else:
        ok = isinstance(data, tp)
    if not ok:
        raise ModelError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {data!r}")
    return data


def _read_union(tp: Any, data: object, where: str) -> Any:
    """The first member of the union that reads ``data`` without an error."""
    errors = []
    for member in get_args(tp):
        try:
            return _read(member, data, where)
        except ModelError as exc:
            errors.append(str(exc))
    raise ModelError(f"{where}: fits none of {tp}: " + "; ".join(errors))


def _read_key(tp: Any, key: str, where: str) -> Any:
    try:
        return int(key) if tp is int else tp(key)
    except ValueError:
        raise ModelError(f"{where}: {key!r} is not a {tp.__name__} key") from None


def _read_fields(cls: Any, data: object, where: str) -> Any:
    record = _is(dict, data, where)
    hints = get_type_hints(cls)
    known = {json_name(f): f for f in dataclasses.fields(cls)}
    unknown = set(record) - set(known)
    if unknown:
        raise ModelError(f"{where}: {cls.__name__} has no field {sorted(unknown)}")
    values = {}
    for name, f in known.items():
        if name in record:
            values[f.name] = _read(hints[f.name], record[name], f"{where}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ModelError(f"{where}: {cls.__name__} needs {name!r}")
    return cls(**values)


def _is(tp: type[T], data: object, where: str) -> T:
    if not isinstance(data, tp):
        raise ModelError(f"{where}: expected a JSON {tp.__name__}, got {type(data).__name__}")
    return data
