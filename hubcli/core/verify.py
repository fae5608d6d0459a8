"""``hubcli verify``: check a dataset against every checksum and invariant it carries.

Reads with ranged reads only (so remote datasets work): the state, each tree node
(CRC-32), each segment header (its checksum), each frame table (CRC-32 and
invariants), each chunk (size and magic), each stored sample (SHA-256 of the original
file) and every packet (CRC-32). Links: the object's identity. ``deep``: also decode
every frame. Damage is named per sample: a damaged chunk names the samples whose
bytes are damaged, not every sample it holds.

Label tensors (format_spec/values.md): each value segment's size, header (CRC-32,
count against its tree entry, dtype against the tensor's), every block of its body
(CRC-32) and its shapes; then each kept sample's value (UTF-8 text, JSON, a class in
range).
"""

from __future__ import annotations

import bisect
import hashlib
import time
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hubcli.core.gc import DEFAULT_SAFETY_WINDOW
from hubcli.core.sample import SampleView
from hubcli.core.values import column_values, sample_value
from hubcli.errors import HubcliError
from hubcli.format import keys
from hubcli.format.segment import CHUNK_MAGIC
from hubcli.format.values import CLASS_LABEL, JSON, TEXT, Column, decode_segment

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from hubcli.core.dataset import Dataset
    from hubcli.core.tensor import Tensor
    from hubcli.core.tree import Tree
    from hubcli.format.frames import FrameTable
    from hubcli.format.layout import SegmentEntry
    from hubcli.format.segment import ChunkRef, SampleRecord
    from hubcli.format.values import ValueInfo

_BLOCK = 8 << 20


@dataclass
class Problem:
    tensor: str
    index: int | None  # None: not about one sample (a chunk, a segment)
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"tensor": self.tensor, "index": self.index, "reason": self.reason}


@dataclass
class Report:
    path: str
    version: int
    samples: int = 0
    bytes_checked: int = 0
    frames_decoded: int = 0
    problems: list[Problem] = field(default_factory=list)
    unreferenced: list[str] = field(default_factory=list)
    #: Unreferenced objects younger than the safety window: likely a write in progress.
    in_progress: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "version": self.version,
            "ok": self.ok,
            "samples": self.samples,
            "bytes_checked": self.bytes_checked,
            "frames_decoded": self.frames_decoded,
            "problems": [p.to_dict() for p in self.problems],
            "unreferenced": self.unreferenced,
            "in_progress": self.in_progress,
        }


def verify(
    dataset: Dataset,
    deep: bool = False,
    progress: Callable[[int], None] | None = None,
    safety_window: float = DEFAULT_SAFETY_WINDOW,
) -> Report:
    """Check every sample of every tensor; problems are collected, not raised. Objects
    no tensor reaches are reported: those younger than ``safety_window`` seconds as
    likely belonging to a write in progress, older ones as leftovers (``gc`` removes
    them)."""
    report = Report(dataset.path, dataset.version)
    referenced: set[str] = set()
    for tensor in dataset.tensors.values():
        _verify_tensor(tensor, deep, report, referenced, progress)
    try:
        stored = dataset.store.list_info(keys.TENSORS_PREFIX)
    except HubcliError as exc:  # a link or special file in the tree: named, not followed
        report.problems.append(Problem("", None, str(exc)))
        return report
    now = time.time()
    for info in stored:
        if info.key not in referenced:
            young = now - info.modified < safety_window
            (report.in_progress if young else report.unreferenced).append(info.key)
    return report


def _verify_tensor(
    tensor: Tensor,
    deep: bool,
    report: Report,
    referenced: set[str],
    progress: Callable[[int], None] | None,
) -> None:
    if tensor.holds_values:
        _verify_values(tensor, report, referenced, progress)
        return
    chunks: dict[str, str | None] = {}  # chunk key -> problem (None: fine), checked once
    reader = tensor.reader()
    deleted = tensor.meta.layout.deleted
    segments = _segments(tensor, reader.tree, report, referenced)
    if segments is None:
        return
    for first, entry in segments:
        referenced.add(keys.segment_key(tensor.meta.dir, entry.id))
        kept = [p for p in range(first, first + entry.count) if p not in deleted]
        indices = [p - bisect.bisect_left(deleted, p) for p in kept]  # logical
        report.samples += len(indices)
        try:
            reader.header(entry)
        except HubcliError as exc:
            # One problem for the segment: none of its samples can be found, and a
            # damaged count must not make verify loop over samples that do not exist.
            where = f" (samples {indices[0]}-{indices[-1]})" if indices else ""
            report.problems.append(
                Problem(tensor.name, indices[0] if indices else None, f"{exc}{where}")
            )
            if progress:
                progress(len(indices))
            continue
        for index in indices:
            try:
                _verify_sample(tensor, index, deep, report, referenced, chunks)
            except HubcliError as exc:
                report.problems.append(Problem(tensor.name, index, str(exc)))
            if progress:
                progress(1)


def _segments(
    tensor: Tensor, tree: Tree, report: Report, referenced: set[str]
) -> list[tuple[int, SegmentEntry]] | None:
    """The tensor's segments (first sample, entry), its tree nodes marked referenced;
    None, with the problem reported, if the tree cannot be read."""
    try:
        segments = list(tree.segments())
        referenced.update(key for key, _ in tree.walk(set()) if key.endswith(".node"))
    except HubcliError as exc:
        report.problems.append(Problem(tensor.name, None, f"its tree: {exc}"))
        return None
    return segments


def _verify_sample(
    tensor: Tensor,
    index: int,
    deep: bool,
    report: Report,
    referenced: set[str],
    chunks: dict[str, str | None],
) -> None:
    view = SampleView(tensor, index, ())
    reader, loc = view.resolved.reader, view.resolved.location  # looked up once
    table = reader.frame_table(loc)
    if loc.chunk is None:
        reader.byte_source(loc)  # a link: resolves its creds, checks its identity
    else:
        chunk = loc.chunk
        referenced.add(chunk.key)
        if chunk.key not in chunks:
            chunks[chunk.key] = _check_chunk(tensor, chunk)
        if chunks[chunk.key]:
            raise HubcliError(f"its chunk {chunk.key}: {chunks[chunk.key]}")
        report.bytes_checked += _check_stored_sample(tensor, chunk.key, loc.record, table)
    if deep:
        frames, _ = view.frame_positions()
        for _ in view.pictures(frames):  # decoded and checked; not converted
            pass
        report.frames_decoded += len(frames)


def _check_chunk(tensor: Tensor, chunk: ChunkRef) -> str | None:
    """None if the chunk exists with its size and magic; else what is wrong. Its bytes
    are checked sample by sample (each sample's SHA-256), so that damage is named for
    the samples it hits."""
    store = tensor.dataset.store
    try:
        size = store.size(chunk.key)
    except FileNotFoundError:
        return "missing"
    if size != chunk.size:
        return f"is {size} bytes, the segment says {chunk.size}"
    if store.get_range(chunk.key, 0, len(CHUNK_MAGIC)) != CHUNK_MAGIC:
        return "bad magic"
    return None


def _check_stored_sample(
    tensor: Tensor, chunk_key: str, rec: SampleRecord, table: FrameTable
) -> int:
    """The original file's SHA-256 and every packet's CRC-32 (the chunk was read just
    before, so this read is usually served from the OS cache)."""
    store = tensor.dataset.store
    sha = hashlib.sha256()
    data = bytearray()
    end = rec.size + rec.extra_size
    for start in range(0, end, _BLOCK):
        data += store.get_range(
            chunk_key, rec.offset + start, rec.offset + min(start + _BLOCK, end)
        )
    sha.update(memoryview(data)[: rec.size])
    if sha.digest() != rec.sha256:
        raise HubcliError("the stored file fails its SHA-256")
    offsets, sizes = table.offset, table.size.astype(np.int64)
    for i in range(table.packet_count):
        a = int(offsets[i])
        if zlib.crc32(memoryview(data)[a : a + int(sizes[i])]) & 0xFFFFFFFF != int(table.crc32[i]):
            raise HubcliError(f"packet {i} fails its checksum")
    return len(data)


# -- label tensors -------------------------------------------------------------------


def _verify_values(
    tensor: Tensor,
    report: Report,
    referenced: set[str],
    progress: Callable[[int], None] | None,
) -> None:
    """Every value segment of a label tensor read whole and checked (values.md §1)."""
    reader = tensor.dataset.value_reader(tensor.name)
    meta, info = tensor.meta, tensor.info_value
    deleted = meta.layout.deleted
    segments = _segments(tensor, reader.tree, report, referenced)
    if segments is None:
        return
    physical = sum(entry.count for _, entry in segments)
    if physical - len(deleted) != meta.length:
        report.problems.append(
            Problem(
                tensor.name,
                None,
                f"its segments hold {physical} samples "
                f"({len(deleted)} removed), its state says {meta.length}",
            )
        )
    for first, entry in segments:
        referenced.add(keys.segment_key(meta.dir, entry.id))
        # Logical index of each kept sample of the segment, by its offset in it.
        kept = {
            p - first: p - bisect.bisect_left(deleted, p)
            for p in range(first, first + entry.count)
            if not _is_deleted(deleted, p)
        }
        report.samples += len(kept)
        try:
            column = _value_segment(tensor, entry, info)
            report.bytes_checked += entry.size
        except HubcliError as exc:
            logical = sorted(kept.values())
            where = f" (samples {logical[0]}-{logical[-1]})" if logical else ""
            first_index = logical[0] if logical else None
            report.problems.append(Problem(tensor.name, first_index, f"{exc}{where}"))
        else:
            for offset, problem in _bad_values(tensor.htype, info, column, set(kept)):
                report.problems.append(Problem(tensor.name, kept[offset], problem))
        if progress:
            progress(len(kept))


def _is_deleted(deleted: Sequence[int], position: int) -> bool:
    at = bisect.bisect_left(deleted, position)
    return at < len(deleted) and deleted[at] == position


def _value_segment(tensor: Tensor, entry: SegmentEntry, info: ValueInfo) -> Column:
    """A value segment's samples, after its size, header, blocks and shapes are checked
    (ranged reads of at most ``_BLOCK`` bytes, so a remote segment streams)."""
    store = tensor.dataset.store
    key = keys.segment_key(tensor.meta.dir, entry.id)
    try:
        size = store.size(key)
    except FileNotFoundError:
        raise HubcliError(f"its value segment {key} is missing") from None
    if size != entry.size:
        raise HubcliError(f"its value segment {key} is {size} bytes, its entry says {entry.size}")
    data = bytearray()
    for start in range(0, size, _BLOCK):
        data += store.get_range(key, start, min(start + _BLOCK, size))
    column = decode_segment(bytes(data), entry.header_size, entry.count, store.describe(key))
    if info.dtype is not None and column.data.dtype != np.dtype(info.dtype).newbyteorder("<"):
        raise HubcliError(
            f"its value segment {key} holds {column.data.dtype.name}, the tensor {info.dtype}"
        )
    return column


def _bad_values(
    htype: str, info: ValueInfo, column: Column, kept: set[int]
) -> list[tuple[int, str]]:
    """(offset in the segment, problem) of each kept sample whose value is not one its
    htype allows: text that is not UTF-8, JSON that does not parse, a negative class or
    one past fixed class names. The whole segment is checked at once first; samples one
    by one only when that finds something."""
    if htype in (TEXT, JSON):
        try:
            column_values(htype, column)
            return []
        except ValueError:  # UnicodeDecodeError and JSONDecodeError are both
            pass
    elif htype == CLASS_LABEL and column.data.size:
        limit = len(info.class_names) if info.fixed_class_names else None
        if int(column.data.min()) >= 0 and (limit is None or int(column.data.max()) < limit):
            return []
    else:
        return []
    offsets = column.offsets()
    bad: list[tuple[int, str]] = []
    for s in sorted(kept):
        problem = _bad_value(htype, info, column.data[int(offsets[s]) : int(offsets[s + 1])])
        if problem:
            bad.append((s, problem))
    return bad


def _bad_value(htype: str, info: ValueInfo, array: np.ndarray) -> str | None:
    if htype in (TEXT, JSON):
        try:
            sample_value(htype, array)
        except ValueError as exc:
            return f"its stored {htype} does not decode ({exc})"
        return None
    limit = len(info.class_names) if info.fixed_class_names else None
    for k in array.tolist():
        if k < 0 or (limit is not None and k >= limit):
            return f"class {k} is out of range"
    return None
