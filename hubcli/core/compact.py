"""Compaction: small segments merged into big ones, removed samples dropped, the tree
rebuilt (format_spec/log.md §8). Readers see the same samples, frames and timestamps.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from hubcli.core.commit import Change, Plan, node_objects
from hubcli.core.ingest import SEGMENT_HEADER_BUDGET, SEGMENT_TABLES_BUDGET
from hubcli.core.value_ingest import SEGMENT_BODY_BUDGET, encode_value_segment, split
from hubcli.core.value_reader import ValueReader, take
from hubcli.errors import CorruptDatasetError
from hubcli.format import keys
from hubcli.format.layout import Layout, SegmentEntry, build_layout
from hubcli.format.log import SetLayout
from hubcli.format.segment import ChunkRef, SampleRecord, encode_segment, record_size
from hubcli.format.values import Column, concat

if TYPE_CHECKING:
    from collections.abc import Callable

    from hubcli.core.lookup import SampleReader
    from hubcli.core.tree import Tree
    from hubcli.format.manifest import Manifest, TensorMeta

    #: A reader of any state's tensor (``Dataset.reader_of``).
    Readers = Callable[[TensorMeta], SampleReader | ValueReader]

#: Segments at least this big (and without removed samples) are kept as they are: their
#: frame tables are their bulk, and copying them would cost more than referencing them.
KEEP_SEGMENT_BYTES = 1 << 20


@dataclass
class _Pending:
    """A merged segment being filled."""

    chunks: list[ChunkRef]
    chunk_index: dict[str, int]
    records: list[SampleRecord]
    tables: list[bytes]
    header_bytes: int = 0
    table_bytes: int = 0

    def full(self) -> bool:
        """The same budgets as an append's segments, so that a compacted tensor has the
        segments one big append of its samples would have."""
        return (
            self.header_bytes >= SEGMENT_HEADER_BUDGET or self.table_bytes >= SEGMENT_TABLES_BUDGET
        )


def small_unsealed_segments(layout: Layout) -> int:
    """How many of the segments not yet sealed into a node (the newest ones, in the state
    itself: counting them reads nothing) are small enough to be merged."""
    newest = layout.spine[0] if layout.spine else ()
    return sum(
        1 for entry in newest if isinstance(entry, SegmentEntry) and entry.size < KEEP_SEGMENT_BYTES
    )


def needs_compaction(tree: Tree) -> bool:
    """Whether compacting the tensor would change its layout."""
    if tree.meta.layout.deleted:
        return True
    small = 0
    for _, entry in tree.segments():
        if entry.size < KEEP_SEGMENT_BYTES:
            small += 1
            if small > 1:
                return True
        else:
            small = 0
    return False


@dataclass
class _Merged:
    """A tensor's compaction as planned on one state: its layout then (the samples it
    covers) and the merged entries, whose segments are written once."""

    dir: str
    base: Layout
    entries: list[SegmentEntry]


def compact_change(names: list[str], readers: Readers) -> Change:
    """The change that compacts tensors ``names`` (all of them if empty).

    Appenders keep committing while a compaction is planned; re-planning from scratch
    after each lost race would starve it. So the merged segments are written once, and
    on a newer state that only grew at the end, they are kept and the new tail entries
    are put after them (only the tree's nodes are rebuilt)."""
    done: dict[str, _Merged] = {}

    def plan(state: Manifest) -> Plan:
        result = Plan([])
        for meta in state.tensors:
            if names and meta.name not in names:
                continue
            reader = readers(meta)
            merged = done.get(meta.name)
            tail = _tail(reader, merged) if merged is not None else None
            if merged is not None and tail is not None:
                entries = merged.entries + tail
            elif needs_compaction(reader.tree):
                entries, objects = (
                    _merged_values(meta, reader)
                    if isinstance(reader, ValueReader)
                    else _merged_entries(meta, reader)
                )
                done[meta.name] = _Merged(meta.dir, meta.layout, entries)
                result.objects.extend(objects)
            else:
                continue
            layout, nodes = build_layout(entries, meta.fanout, keys.new_object_id)
            result.objects.extend(node_objects(meta, nodes))
            result.ops.append(SetLayout(meta.name, layout))
        return result

    return plan


def _tail(reader: SampleReader | ValueReader, merged: _Merged) -> list[SegmentEntry] | None:
    """The segment entries appended since ``merged`` was planned, or None when the
    tensor changed otherwise (renamed, samples removed, or its segments rewritten by
    another writer's compaction, which may have merged the appended samples into a
    segment that starts before the old end): then the compaction is planned anew."""
    layout, base = reader.tree.meta.layout, merged.base
    if reader.tree.meta.dir != merged.dir or layout.deleted != base.deleted:
        return None
    if layout.physical < base.physical:
        return None
    segments = list(reader.tree.segments())
    tail = [entry for first, entry in segments if first >= base.physical]
    at_the_old_end = any(first == base.physical for first, _ in segments)
    return tail if at_the_old_end or layout.physical == base.physical else None


def _merged_entries(
    meta: TensorMeta, reader: SampleReader
) -> tuple[list[SegmentEntry], list[tuple[str, bytes]]]:
    deleted = set(meta.layout.deleted)
    entries: list[SegmentEntry] = []
    objects: list[tuple[str, bytes]] = []
    pending: _Pending | None = None

    def flush() -> None:
        nonlocal pending
        if pending is not None and pending.records:
            entry, data = _write(meta, pending)
            entries.append(entry)
            objects.append((keys.segment_key(meta.dir, entry.id), data))
        pending = None

    for first, entry in reader.tree.segments():
        dropped = {p - first for p in range(first, first + entry.count) if p in deleted}
        if entry.size >= KEEP_SEGMENT_BYTES and not dropped:
            flush()
            entries.append(entry)
            continue
        header = reader.header(entry)
        for position, record in enumerate(header.samples):
            if position in dropped:
                continue
            if pending is None or pending.full():
                flush()
                pending = _Pending([], {}, [], [])
            table = reader.frame_table_bytes(entry, record)
            chunk = None
            if record.chunk is not None:
                ref = header.chunks[record.chunk]
                if ref.key not in pending.chunk_index:
                    pending.chunk_index[ref.key] = len(pending.chunks)
                    pending.chunks.append(ref)
                chunk = pending.chunk_index[ref.key]
            merged = replace(record, chunk=chunk)
            pending.records.append(merged)
            pending.tables.append(table)
            pending.header_bytes += record_size(merged)
            pending.table_bytes += len(table)
    flush()
    if sum(e.count for e in entries) != meta.length:
        raise CorruptDatasetError(f"tensor {meta.name!r}: compaction lost samples")
    return entries, objects


def _merged_values(
    meta: TensorMeta, reader: ValueReader
) -> tuple[list[SegmentEntry], list[tuple[str, bytes]]]:
    """A label tensor's small segments merged (their values copied, removed samples
    left out); big segments without removed samples kept (values.md §4)."""
    deleted = set(meta.layout.deleted)
    dtype = reader.dtype
    entries: list[SegmentEntry] = []
    objects: list[tuple[str, bytes]] = []
    pending: list[Column] = []

    def flush() -> None:
        if pending:
            for part in split(concat(pending, dtype), SEGMENT_BODY_BUDGET):
                entry, data = encode_value_segment(part, dtype)
                entries.append(entry)
                objects.append((keys.segment_key(meta.dir, entry.id), data))
        pending.clear()

    for first, entry in reader.tree.segments():
        kept = [p - first for p in range(first, first + entry.count) if p not in deleted]
        if entry.size >= KEEP_SEGMENT_BYTES and len(kept) == entry.count:
            flush()
            entries.append(entry)
            continue
        column = reader.segment_column(entry)
        if len(kept) < entry.count:
            column = take(column, np.asarray(kept, np.int64))
        pending.append(column)
        if sum(c.data.nbytes for c in pending) >= SEGMENT_BODY_BUDGET:
            flush()
    flush()
    if sum(e.count for e in entries) != meta.length:
        raise CorruptDatasetError(f"tensor {meta.name!r}: compaction lost samples")
    return entries, objects


def _write(meta: TensorMeta, pending: _Pending) -> tuple[SegmentEntry, bytes]:
    data, header_size = encode_segment(meta.dir, pending.chunks, pending.records, pending.tables)
    entry = SegmentEntry(keys.new_object_id(), len(pending.records), header_size, len(data))
    return entry, data
