"""Label values: what a user appends to a ``class_label``, ``text``, ``json`` or
``generic`` tensor, turned into a value column, and a column turned back into values
(format_spec/values.md §3).

Conversion happens before anything is written, and every bad value is reported with
the tensor, its index and the fix, so a bad append changes nothing.
"""

from __future__ import annotations

import itertools
import json
import numbers
import operator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hubcli.errors import InvalidSampleError
from hubcli.format.value_info import class_name
from hubcli.format.values import (
    CLASS_LABEL,
    DTYPES,
    GENERIC,
    JSON,
    MAX_CLASS_NAME_LENGTH,
    MAX_CLASS_NAMES,
    MAX_NDIM,
    TEXT,
    Column,
    ValueInfo,
    default_info,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    # numpy is imported by the functions that use it: `hubcli.load` and `hubcli info`
    # start without it (issue #15, tests/cli/test_startup.py).
    import numpy as np


class Converter:
    """Turns the values of one append into a column, growing ``info`` (new class names,
    a generic tensor's first dtype) as it goes."""

    def __init__(self, tensor: str, htype: str, info: ValueInfo, first: int) -> None:
        self.tensor = tensor
        self.htype = htype
        self.info = info
        self.first = first
        self._names = {name: k for k, name in enumerate(info.class_names)}
        self._new_names: list[str] = []

    def column(self, values: Sequence[object]) -> Column:
        arrays = [self._one(v, self.first + k) for k, v in enumerate(values)]
        if self._new_names:
            names = self.info.class_names + tuple(self._new_names)
            self.info = replace(self.info, class_names=names)
        dtype = self.info.dtype
        assert dtype is not None  # set by the first generic value
        return Column.from_arrays(arrays, dtype)

    def _one(self, value: object, index: int) -> np.ndarray:
        if self.htype == CLASS_LABEL:
            return self._label(value, index)
        if self.htype == TEXT:
            return self._text(value, index)
        if self.htype == JSON:
            return self._json(value, index)
        return self._generic(value, index)

    def _where(self, index: int) -> str:
        return f"{self.tensor}[{index}]"

    def _error(self, index: int, problem: str, fix: str) -> InvalidSampleError:
        return InvalidSampleError(f"{self._where(index)}: {problem}", hint=fix)

    # -- class_label ----------------------------------------------------------

    def _label(self, value: object, index: int) -> np.ndarray:
        import numpy as np

        if isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim == 1):
            return np.array([self._class(v, index) for v in value], dtype=np.int64)
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()
        return np.array(self._class(value, index), dtype=np.int64)

    def _class(self, value: object, index: int) -> int:
        if isinstance(value, str):
            return self._class_of_name(value, index)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise self._error(
                index,
                f"{type(value).__name__} {_short(value)} is not a class label",
                "give an int, a class name or a list of them",
            )
        number = int(value)
        if number < 0 or (self.info.fixed_class_names and number >= len(self._names)):
            limit = f"in 0..{len(self._names) - 1}" if self.info.fixed_class_names else ">= 0"
            raise self._error(index, f"class {number} is out of range", f"use a class {limit}")
        return number

    def _class_of_name(self, name: str, index: int) -> int:
        if name in self._names:
            return self._names[name]
        if self.info.fixed_class_names:
            known = ", ".join(self.info.class_names[:10])
            raise self._error(
                index,
                f"unknown class name {_short(name)}",
                f"use one of: {known} (this tensor's class names are fixed)",
            )
        if not 0 < len(name) <= MAX_CLASS_NAME_LENGTH or len(self._names) >= MAX_CLASS_NAMES:
            raise self._error(
                index,
                "class names must have 1 to 1,024 characters (and at most 2^20 of them)",
                "use a shorter name",
            )
        self._names[name] = len(self._names)
        self._new_names.append(name)
        return self._names[name]

    # -- text, json ----------------------------------------------------------

    def _text(self, value: object, index: int) -> np.ndarray:
        if not isinstance(value, str):
            raise self._error(
                index,
                f"{type(value).__name__} is not text",
                "give a str (json tensors take any value)",
            )
        try:
            return _utf8(value)
        except UnicodeEncodeError:
            raise self._error(
                index,
                "the text holds a lone surrogate, which is not UTF-8",
                "fix the string's encoding",
            ) from None

    def _json(self, value: object, index: int) -> np.ndarray:
        text = _json_text(value, self._where(index))
        try:
            return _utf8(text)
        except UnicodeEncodeError:
            raise self._error(
                index,
                "a string in the value holds a lone surrogate, which is not UTF-8",
                "fix the string's encoding",
            ) from None

    # -- generic -------------------------------------------------------------

    def _generic(self, value: object, index: int) -> np.ndarray:
        import numpy as np

        if self.info.dtype is None:
            self.info = replace(self.info, dtype=self._infer_dtype(value, index))
        dtype = np.dtype(self.info.dtype)
        array = self._as_array(value, dtype, index)
        if array.ndim > MAX_NDIM:
            raise self._error(index, f"{array.ndim} dimensions", f"use at most {MAX_NDIM}")
        if self.info.shape is not None and array.shape != self.info.shape:
            raise self._error(
                index,
                f"shape {array.shape} differs from the tensor's fixed shape {self.info.shape}",
                "reshape the value",
            )
        return array

    def _infer_dtype(self, value: object, index: int) -> str:
        import numpy as np

        try:
            inferred = np.asarray(value).dtype
        except (ValueError, TypeError):
            inferred = np.dtype(object)
        if inferred.name not in DTYPES:
            raise self._error(
                index,
                f"values of dtype {inferred.name} cannot be stored",
                f"use numbers of one of: {', '.join(DTYPES)}",
            )
        return inferred.name

    def _as_array(self, value: object, dtype: np.dtype[Any], index: int) -> np.ndarray:
        # An array keeps numpy's safe-cast rule (its dtype says what it holds); a
        # numpy scalar, like a Python number, casts when its value does not change.
        import numpy as np

        if isinstance(value, np.ndarray):
            array = np.asarray(value)
            if not np.can_cast(array.dtype, dtype, "safe"):
                raise self._cast_error(index, array.dtype.name, dtype.name)
            return array.astype(dtype)
        try:
            loose = np.asarray(value)
            array = loose.astype(dtype)
        except (ValueError, TypeError, OverflowError):
            raise self._cast_error(index, type(value).__name__, dtype.name) from None
        # Python numbers cast only when no value changes (1 -> 1.0, not 1.5 -> 1).
        same = np.array_equal(array, loose, equal_nan=loose.dtype.kind == "f")
        if loose.dtype.kind not in "biuf" or not same:
            raise self._cast_error(index, f"{type(value).__name__} {_short(value)}", dtype.name)
        return array

    def _cast_error(self, index: int, what: str, dtype: str) -> InvalidSampleError:
        return self._error(
            index,
            f"{what} cannot be stored as {dtype} without changing values",
            f"give {dtype} values",
        )


def _utf8(text: str) -> np.ndarray:
    import numpy as np

    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def _json_text(value: object, where: str) -> str:
    key = _non_text_key(value)
    if key:
        # json.dumps would turn {1: 2} into {"1": 2}: a value that reads back different.
        raise InvalidSampleError(
            f"{where}: dict key {_short(key[0])} is not a str (JSON keys are text)",
            hint="use str keys",
        )
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidSampleError(
            f"{where}: not a JSON value ({exc})",
            hint="give dicts, lists, str, int, finite float, bool or None",
        ) from None


def _non_text_key(value: object, depth: int = 0) -> list[object]:
    """The first dict key in ``value`` that is not a str, in a list (empty: none; a
    list, since the key may be None)."""
    if depth > 200:  # json.dumps reports the recursion itself
        return []
    if isinstance(value, dict):
        for key, item in value.items():
            found = [key] if not isinstance(key, str) else _non_text_key(item, depth + 1)
            if found:
                return found
    elif isinstance(value, (list, tuple)):
        for item in value:
            found = _non_text_key(item, depth + 1)
            if found:
                return found
    return []


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# -- reading back ---------------------------------------------------------------


def sample_value(htype: str, array: np.ndarray) -> Any:
    """The value ``numpy()`` gives for one stored sample."""
    if htype == TEXT:
        return array.tobytes().decode("utf-8")
    if htype == JSON:
        return json.loads(array.tobytes().decode("utf-8"))
    return array


def sample_data(htype: str, info: ValueInfo, array: np.ndarray) -> Any:
    """The value ``data()`` gives: a class label's value with its names."""
    import numpy as np

    if htype != CLASS_LABEL:
        return sample_value(htype, array)
    names = info.class_names
    texts = [class_name(names, k) for k in np.atleast_1d(array).tolist()]
    return {"value": array, "text": texts}


def column_values(htype: str, column: Column) -> list[Any]:
    """Every sample of ``column`` as ``sample_value`` gives it (text in one pass)."""
    offsets = column.offsets().tolist()
    if htype in (TEXT, JSON):
        blob = column.data.tobytes()
        texts = [blob[a:b].decode("utf-8") for a, b in itertools.pairwise(offsets)]
        return texts if htype == TEXT else [json.loads(t) for t in texts]
    shapes = column.sample_shapes()
    data = column.data
    return [data[a:b].reshape(s) for a, b, s in zip(offsets, offsets[1:], shapes, strict=False)]


def stacked(htype: str, column: Column) -> np.ndarray | None:
    """The samples of ``column`` as one array when they share a shape, else None."""
    if htype in (TEXT, JSON):
        return None
    shape = column.shape
    if shape is None:
        # A segment records no shape when its samples have no elements (values.md §1.1):
        # samples of shape (0,) still stack.
        shapes = set(column.sample_shapes())
        if len(shapes) != 1:
            return None
        (shape,) = shapes
    return column.data.reshape((column.count, *shape))


def check_options(
    htype: str,
    dtype: object = None,
    shape: Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
    fixed_class_names: bool = False,
) -> ValueInfo:
    """The info of a new tensor from ``create_tensor``'s options (each checked)."""
    info = default_info(htype)
    if dtype is not None:
        name = _dtype_name(dtype)
        if htype != GENERIC and name != info.dtype:
            raise InvalidSampleError(
                f"dtype= applies to generic tensors, not {htype}", hint="omit dtype="
            )
        info = replace(info, dtype=name)
    if shape is not None:
        if htype != GENERIC:
            raise InvalidSampleError(
                f"shape= applies to generic tensors, not {htype}", hint="omit shape="
            )
        info = replace(info, shape=_fixed_shape(shape))
    if class_names:
        if htype != CLASS_LABEL:
            raise InvalidSampleError(
                f"class_names= applies to class_label tensors, not {htype}", hint="omit it"
            )
        # A str is a sequence too: "cat" must not become the classes c, a and t.
        names = [] if isinstance(class_names, str) else list(class_names)
        if (
            not names
            or not all(isinstance(n, str) for n in names)
            or len(set(names)) != len(names)
            or not all(0 < len(n) <= MAX_CLASS_NAME_LENGTH for n in names)
            or len(names) > MAX_CLASS_NAMES
        ):
            raise InvalidSampleError(
                "class_names= must be a list of distinct str of 1 to 1,024 characters",
                hint='fix the list, e.g. class_names=["cat", "dog"]',
            )
        info = replace(info, class_names=tuple(names))
    if fixed_class_names:
        if htype != CLASS_LABEL or not info.class_names:
            raise InvalidSampleError(
                "fixed_class_names= applies to class_label tensors with class_names=",
                hint="give the class names, or omit fixed_class_names=",
            )
        info = replace(info, fixed_class_names=True)
    return info


def _fixed_shape(shape: object) -> tuple[int, ...]:
    """``shape=``: sizes >= 0 (an int is a one-dimensional shape, as in numpy)."""
    sizes: Any = (shape,) if isinstance(shape, numbers.Integral) else shape
    try:
        fixed = tuple(operator.index(d) for d in sizes)
    except TypeError:
        fixed = None
    if fixed is None or len(fixed) > MAX_NDIM or any(d < 0 for d in fixed):
        raise InvalidSampleError(
            f"shape= {shape!r} is not a generic tensor's fixed shape: up to 16 sizes >= 0",
            hint="omit shape= or give e.g. shape=(4,)",
        )
    return fixed


def _dtype_name(dtype: object) -> str:
    import numpy as np

    try:
        name = np.dtype(dtype).name  # type: ignore[call-overload]
    except TypeError:
        name = repr(dtype)
    if name not in DTYPES:
        raise InvalidSampleError(
            f"dtype {dtype!r} cannot be stored", hint=f"use one of: {', '.join(DTYPES)}"
        )
    return str(name)
