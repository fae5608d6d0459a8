"""What the driver and the workers share: opening a dataset by URL and version in each
process, checking label columns, and turning label values into block columns."""

from __future__ import annotations

import json
import os
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from hubcli.core.dataset import Dataset, load
from hubcli.errors import StorageError, TensorNotFoundError, UnsupportedHtypeError
from hubcli.format.values import JSON, TEXT

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from hubcli.core.tensor import Tensor

#: Pinned versions a worker process has opened, by (url, version, pid): a worker runs
#: many tasks of one read, and reopening costs a manifest read each time.
_OPENED: dict[tuple[str, int, int], Dataset] = {}
_OPENED_LOCK = threading.Lock()
_OPENED_MAX = 8


def check_location(url: str | os.PathLike[str]) -> str:
    """A dataset Ray workers can reach: not ``memory://``, which lives in one process."""
    text = os.fspath(url)
    if text.lower().startswith("memory://"):
        raise StorageError(
            f"{text} lives in this process only: Ray workers cannot open it",
            hint="use a local folder every worker can see, or s3:// / gcs://",
        )
    return text


def open_dataset(url: str, version: int | None, creds: Mapping[str, Any] | None = None) -> Dataset:
    """The dataset at ``url``: ``version`` (a pinned version is opened once per process:
    a worker runs many tasks of one read), or the newest (opened afresh: it moves).

    Workers are given no secrets: they open the dataset with their own environment's
    credentials (AWS / Google conventions), and linked videos resolve their creds keys
    by name there (managed keys, ``ENV``)."""
    if creds is not None or version is None:
        return load(url, creds=creds, version=version)
    key = (url, version, os.getpid())  # a forked child opens its own
    with _OPENED_LOCK:
        found = _OPENED.get(key)
    if found is not None:
        return found
    ds = load(url, version=version)
    with _OPENED_LOCK:
        while len(_OPENED) >= _OPENED_MAX:
            _OPENED.pop(next(iter(_OPENED)))
        _OPENED[key] = ds
    return ds


def video_tensor(ds: Dataset, name: str) -> Tensor:
    tensor: Tensor = named(ds, name, "tensor")
    if tensor.holds_values:
        raise UnsupportedHtypeError(
            f"tensor {name!r} of {ds.path} holds {tensor.htype} values, not videos",
            hint="name a video tensor",
        )
    return tensor


def check_columns(
    ds: Dataset, videos: Tensor, columns: Sequence[str], reserved: tuple[str, ...]
) -> tuple[str, ...]:
    """Label columns to add to every row: label tensors, with a value for every video,
    and not named like a row's own fields."""
    if isinstance(columns, str):
        columns = (columns,)
    for name in columns:
        column = named(ds, name, "columns")
        if name in reserved or not column.holds_values:
            raise UnsupportedHtypeError(
                f"column {name!r} cannot be a label column of the rows",
                hint=f"columns are label tensors (class_label, text, json, generic), "
                f"not named {', '.join(reserved)}",
            )
        if len(column) < len(videos):
            raise TensorNotFoundError(
                f"column {name!r} has {len(column)} samples, fewer than the "
                f"{len(videos)} of {videos.name!r}: some rows would have no label",
                hint="append the missing labels, or leave the column out of columns=",
            )
    return tuple(columns)


def named(ds: Dataset, name: str, argument: str) -> Any:
    if name not in ds.tensors:
        raise TensorNotFoundError(
            f"{ds.path} has no tensor {name!r} (tensors: {', '.join(ds.tensors) or 'none'})",
            hint=f"pass {argument}= names of its tensors"
            + (" (columns=() for none)" if argument == "columns" else ""),
        )
    return ds[name]


def label_values(
    ds: Dataset, columns: Sequence[str], samples: Sequence[int]
) -> dict[str, dict[int, Any]]:
    """Each column's value for each of ``samples``: one read per column."""
    wanted = sorted(set(samples))
    out: dict[str, dict[int, Any]] = {}
    for name in columns:
        column = ds[name]
        values = column[wanted].numpy(aslist=True) if wanted else []
        out[name] = dict(zip(wanted, values, strict=True))
    return out


def label_column(htype: str, values: Sequence[Any]) -> np.ndarray:
    """A block column of label values: numbers as a numeric column (a tensor column
    when each value is an array), text as strings, json as its JSON text (Arrow has no
    type for arbitrary JSON: dicts with different keys would be merged into one struct)."""
    if htype == JSON:
        return np.array([json.dumps(v) for v in values], dtype=object)
    if htype == TEXT:
        return np.array([str(v) for v in values], dtype=object)
    arrays = [np.asarray(v) for v in values]
    if arrays and len({(a.shape, a.dtype) for a in arrays}) == 1:
        return np.stack(arrays)
    ragged = np.empty(len(arrays), dtype=object)
    ragged[:] = arrays
    return ragged
