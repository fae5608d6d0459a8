"""Rows: one sample of several tensors at once, as in Hub.

``ds.append({"videos": hubcli.read("a.mp4"), "labels": "cat"})`` and
``ds.extend({"videos": [...], "labels": [...]})`` add to every named tensor in ONE
commit, all or nothing; ``ds[i]`` and ``ds[a:b]`` are views of rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hubcli.core.commit import Change, Plan, Written
from hubcli.core.frame_index import normalize_positions, selection
from hubcli.core.tensor import Appended, Tensor, append_change, remove_unless_committed
from hubcli.core.value_ingest import ValueAppend
from hubcli.errors import FrameIndexError, InvalidSampleError, TensorNotFoundError

if TYPE_CHECKING:
    from hubcli.core.dataset import Dataset
    from hubcli.core.sources import Progress
    from hubcli.format.layout import SegmentEntry
    from hubcli.format.manifest import Manifest


def extend_rows(
    ds: Dataset, columns: Mapping[str, Sequence[Any]], progress: Progress | None = None
) -> dict[str, Appended]:
    """Append ``columns[name][k]`` to tensor ``name`` for every name, as one commit.

    Every column must have the same length (rows). Label values are converted and
    checked first, then videos are stored; a bad value or video changes nothing.
    """
    ds.check_writable()
    count = _row_count(ds, columns)
    if count == 0:
        return {name: Appended(0, 0) for name in columns}
    tensors = {name: ds[name] for name in columns}
    values = [
        ValueAppend(name, t.meta.dir, list(columns[name]))
        for name, t in tensors.items()
        if t.holds_values
    ]
    for append in values:
        append.plan(ds.manifest)  # a bad value fails here, before any video is stored
    written = Written()
    changes: list[Change] = [a.plan for a in values]
    appended: dict[str, Appended] = {a.name: Appended(count, 0) for a in values}
    try:
        for name, tensor in tensors.items():
            if not tensor.holds_values:
                change, appended[name] = tensor.stage(list(columns[name]), written, progress)
                changes.append(change)
        ds._commit(_together(changes), written)
    except BaseException:
        remove_unless_committed(ds.store, written)
        raise
    for append in values:
        appended[append.name] = Appended(count, append.nbytes)
    ds.merge_small_values([a.name for a in values])
    return appended


def commit_staged(
    ds: Dataset,
    segments: Mapping[str, tuple[str, Sequence[SegmentEntry]]],
    values: Mapping[str, tuple[str, Sequence[Any]]],
    written: Written,
) -> None:
    """Append rows whose videos other processes already stored, as ONE commit:
    ``segments[name]`` is a video tensor's directory (as the stagers saw it) and the
    entries of the segments they wrote; ``values[name]`` a label tensor's directory and
    values. All or nothing, as :func:`extend_rows`: on failure the objects of
    ``written`` are removed unless the commit landed (a Ray datasink commits here)."""
    ds.check_writable()
    appends = [ValueAppend(name, directory, list(v)) for name, (directory, v) in values.items()]
    changes: list[Change] = [a.plan for a in appends]
    changes += [append_change(name, d, list(e)) for name, (d, e) in segments.items()]
    try:
        ds._commit(_together(changes), written)
    except BaseException:
        remove_unless_committed(ds.store, written)
        raise
    ds.merge_small_values([a.name for a in appends])


def append_row(ds: Dataset, row: Mapping[str, Any]) -> dict[str, Appended]:
    """One row: ``{tensor: sample}``."""
    if not isinstance(row, Mapping):
        raise InvalidSampleError(
            f"a row is a dict of tensor name to sample, not {type(row).__name__}",
            hint='e.g. ds.append({"videos": "a.mp4", "labels": "cat"})',
        )
    return extend_rows(ds, {name: [sample] for name, sample in row.items()})


def _row_count(ds: Dataset, columns: Mapping[str, Sequence[Any]]) -> int:
    if not isinstance(columns, Mapping) or not columns:
        raise InvalidSampleError(
            "rows are a dict of tensor name to a list of samples",
            hint='e.g. ds.extend({"videos": ["a.mp4", "b.mp4"], "labels": ["cat", "dog"]})',
        )
    for name in columns:
        if name not in ds:
            known = ", ".join(ds.tensors) or "none"
            raise TensorNotFoundError(f"no tensor {name!r} in {ds.path} (tensors: {known})")
    lengths = {name: len(column) for name, column in columns.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{n}: {k}" for n, k in lengths.items())
        raise InvalidSampleError(
            f"rows need as many samples for every tensor ({listed})",
            hint="give each tensor one sample per row",
        )
    return next(iter(lengths.values()))


def _together(changes: list[Change]) -> Change:
    """One change made of several (each planned on the same state)."""

    def plan(state: Manifest) -> Plan:
        result = Plan([])
        for change in changes:
            part = change(state)
            result.ops.extend(part.ops)
            result.objects.extend(part.objects)
        return result

    return plan


class RowView:
    """Row ``index`` of a dataset: ``row.videos`` / ``row["labels"]`` is that sample of
    each tensor (``ds[3].videos[10:20].numpy()``)."""

    def __init__(self, ds: Dataset, index: int) -> None:
        self.dataset = ds
        self.index = index

    def __getitem__(self, name: str) -> Any:
        return self.dataset[name][self.index]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in ("dataset", "index"):
            raise AttributeError(name)
        if name not in self.dataset:
            raise AttributeError(f"row has no tensor {name!r}")
        return self.dataset[name][self.index]

    @property
    def tensors(self) -> dict[str, Any]:
        return {name: self[name] for name in self.dataset.tensors}

    def __repr__(self) -> str:
        return f"RowView({self.dataset.path!r}, {self.index})"


class RowsView:
    """Several rows of a dataset: ``rows.labels`` is those samples of each tensor."""

    def __init__(self, ds: Dataset, positions: Sequence[int]) -> None:
        self.dataset = ds
        self.positions = positions

    def __len__(self) -> int:
        return len(self.positions)

    def __iter__(self) -> Any:
        return (RowView(self.dataset, int(p)) for p in self.positions)

    def __getitem__(self, name: str | int) -> Any:
        if isinstance(name, str):
            tensor: Tensor = self.dataset[name]
            rows = self.positions
            if isinstance(rows, range) and rows.step > 0:
                return tensor[rows.start : rows.stop : rows.step]
            return tensor[list(rows)]
        return RowView(self.dataset, int(self.positions[name]))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in ("dataset", "positions"):
            raise AttributeError(name)
        if name not in self.dataset:
            raise AttributeError(f"rows have no tensor {name!r}")
        return self[name]

    def __repr__(self) -> str:
        return f"RowsView({self.dataset.path!r}, {len(self)} rows)"


def rows_at(ds: Dataset, index: Any) -> RowView | RowsView:
    """``ds[i]``, ``ds[a:b]``, ``ds[[i, j]]``: rows of the dataset (``len(ds)`` rows)."""
    if isinstance(index, tuple):
        raise FrameIndexError(
            "index rows with one int, slice or list", hint="e.g. ds[3] or ds[2:5]"
        )
    if isinstance(index, slice):
        return RowsView(ds, selection(index, len(ds)))
    found, scalar = normalize_positions(index, len(ds), "row", f"dataset {ds.path}")
    if scalar:
        return RowView(ds, int(found[0]))
    return RowsView(ds, [int(p) for p in found])
