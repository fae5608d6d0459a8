"""numpy indexing semantics for samples and frames, as arrays of plain positions. Pure."""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any

from hubcli.errors import FrameIndexError

if TYPE_CHECKING:
    from types import EllipsisType

    # numpy is imported by the functions that use it: `hubcli.load` and `hubcli info`
    # start without it (issue #15, tests/cli/test_startup.py).
    import numpy as np


def normalize_positions(index: Any, length: int, what: str, where: str) -> tuple[np.ndarray, bool]:
    """Positions selected by ``index`` in a sequence of ``length``, in the order given.

    Returns the positions (int64, non-negative) and whether ``index`` was a scalar
    (which drops an axis, as in numpy). ``what`` ("frame", "sample") and ``where``
    ("videos[0]") name things in errors.
    """
    import numpy as np

    if index is Ellipsis or isinstance(index, slice):
        selected = selection(index, length)
        return np.arange(selected.start, selected.stop, selected.step, dtype=np.int64), False
    if isinstance(index, (int, np.integer)) and not isinstance(index, (bool, np.bool_)):
        return np.array([_check_one(int(index), length, what, where)], dtype=np.int64), True
    if isinstance(index, range):
        index = list(index)
    if isinstance(index, (list, tuple, np.ndarray)):
        return _positions_from_array(index, length, what, where), False
    raise FrameIndexError(
        f"cannot index {what}s of {where} with {type(index).__name__}",
        hint="use an int, a slice, or a list of ints",
    )


def scalar_position(index: Any, length: int, what: str, where: str) -> int | None:
    """The position a plain ``int`` index names (checked, negatives counted from the
    end), or None for any other index. Needs no numpy: ``hubcli shape DS 'videos[0]'``
    starts without it."""
    if type(index) is not int:
        return None
    return _check_one(index, length, what, where)


def selection(index: slice | EllipsisType, length: int) -> range:
    """The positions a slice (or ``...``) selects, as a range: nothing is allocated, so a
    length declared by a damaged dataset costs nothing until positions are used."""
    return range(length) if index is Ellipsis else range(length)[index]


def selected_count(index: Any, length: int, what: str, where: str) -> tuple[int, bool]:
    """How many positions ``index`` selects and whether it is a scalar, without building
    them for slices."""
    if index is Ellipsis or isinstance(index, slice):
        return len(selection(index, length)), False
    if scalar_position(index, length, what, where) is not None:
        return 1, True
    positions, scalar = normalize_positions(index, length, what, where)
    return len(positions), scalar


def _positions_from_array(index: Any, length: int, what: str, where: str) -> np.ndarray:
    import numpy as np

    arr = np.asarray(index)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype == bool:
        if arr.shape != (length,):
            raise FrameIndexError(
                f"boolean index of shape {arr.shape} does not match the {length} {what}s of {where}"
            )
        return np.flatnonzero(arr).astype(np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        try:
            arr = np.array([operator.index(v) for v in index], dtype=np.int64)
        except TypeError:
            raise FrameIndexError(
                f"cannot index {what}s of {where} with {index!r}", hint="use a list of ints"
            ) from None
    arr = arr.astype(np.int64)
    bad = (arr < -length) | (arr >= length)
    if bad.any():
        _check_one(int(arr[bad][0]), length, what, where)
    return np.where(arr < 0, arr + length, arr)


def _check_one(i: int, length: int, what: str, where: str) -> int:
    if not -length <= i < length:
        valid = f"valid: {-length}..{length - 1}" if length else "it is empty"
        raise FrameIndexError(
            f"{what} {i} is out of range for {where}, which has {length} {what}s ({valid})"
        )
    return i + length if i < 0 else i
