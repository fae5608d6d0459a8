"""What the driver and the workers share: opening a dataset by URL and version in each
process, and turning label values into block columns (the columns themselves are
checked and read by hubcli.sampling, as the torch datasets do)."""

from __future__ import annotations

import json
import os
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from hubcli.core.dataset import Dataset, load
from hubcli.errors import StorageError
from hubcli.format.values import JSON, TEXT

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

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
