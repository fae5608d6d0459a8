"""``hubcli verify``: check a dataset against every checksum and invariant it carries.

Reads with ranged reads only (so remote datasets work): the manifest, each segment
header (SHA-256), each frame table (CRC-32 and invariants), each chunk (size, SHA-256,
magic), each stored sample (SHA-256 of the original file) and every packet (CRC-32).
Links: the object's identity. ``deep``: also decode every frame.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hubcli.core.sample import SampleView
from hubcli.errors import HubcliError
from hubcli.format import keys
from hubcli.format.segment import CHUNK_MAGIC

if TYPE_CHECKING:
    from collections.abc import Callable

    from hubcli.core.dataset import Dataset
    from hubcli.core.tensor import Tensor
    from hubcli.format.frames import FrameTable
    from hubcli.format.segment import ChunkRef, SampleRecord

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
        }


def verify(
    dataset: Dataset, deep: bool = False, progress: Callable[[int], None] | None = None
) -> Report:
    """Check every sample of every tensor; problems are collected, not raised."""
    report = Report(dataset.path, dataset.version)
    referenced: set[str] = set()
    for tensor in dataset.tensors.values():
        _verify_tensor(tensor, deep, report, referenced, progress)
    try:
        stored = set(dataset.store.list(keys.TENSORS_PREFIX))
    except HubcliError as exc:  # a link or special file in the tree: named, not followed
        report.problems.append(Problem("", None, str(exc)))
        return report
    report.unreferenced = sorted(stored - referenced)
    return report


def _verify_tensor(
    tensor: Tensor,
    deep: bool,
    report: Report,
    referenced: set[str],
    progress: Callable[[int], None] | None,
) -> None:
    chunks: dict[str, str | None] = {}  # chunk key -> problem (None: fine), checked once
    reader = tensor.reader()
    for seg in tensor.meta.segments:
        referenced.add(seg.key)
        report.samples += seg.count
        try:
            reader.locate(seg.first)  # reads and checks the segment header
        except HubcliError as exc:
            # One problem for the segment: its samples cannot be found at all, and a
            # damaged count must not make verify loop over samples that do not exist.
            last = seg.first + seg.count - 1
            report.problems.append(
                Problem(tensor.name, seg.first, f"{exc} (samples {seg.first}-{last})")
            )
            if progress:
                progress(seg.count)
            continue
        for index in range(seg.first, seg.first + seg.count):
            try:
                _verify_sample(tensor, index, deep, report, referenced, chunks)
            except HubcliError as exc:
                report.problems.append(Problem(tensor.name, index, str(exc)))
            if progress:
                progress(1)


def _verify_sample(
    tensor: Tensor,
    index: int,
    deep: bool,
    report: Report,
    referenced: set[str],
    chunks: dict[str, str | None],
) -> None:
    reader = tensor.reader()
    loc = reader.locate(index)
    table = reader.frame_table(index)
    if loc.chunk is None:
        reader.byte_source(index)  # a link: resolves its creds, checks its identity
    else:
        chunk = loc.chunk
        referenced.add(chunk.key)
        if chunk.key not in chunks:
            chunks[chunk.key] = _check_chunk(tensor, chunk, report)
        if chunks[chunk.key]:
            raise HubcliError(f"its chunk {chunk.key}: {chunks[chunk.key]}")
        _check_stored_sample(tensor, chunk.key, loc.record, table)
    if deep:
        view = SampleView(tensor, index, ())
        frames, _ = view.frame_positions()
        view.decode_each(frames, lambda positions, picture: None)
        report.frames_decoded += len(frames)


def _check_chunk(tensor: Tensor, chunk: ChunkRef, report: Report) -> str | None:
    """None if the chunk has its size, magic and SHA-256; else what is wrong."""
    store = tensor.dataset.store
    try:
        size = store.size(chunk.key)
    except FileNotFoundError:
        return "missing"
    if size != chunk.size:
        return f"is {size} bytes, the segment says {chunk.size}"
    sha = hashlib.sha256()
    for start in range(0, size, _BLOCK):
        block = store.get_range(chunk.key, start, min(start + _BLOCK, size))
        if start == 0 and block[: len(CHUNK_MAGIC)] != CHUNK_MAGIC:
            return "bad magic"
        sha.update(block)
        report.bytes_checked += len(block)
    return None if sha.digest() == chunk.sha256 else "SHA-256 mismatch"


def _check_stored_sample(
    tensor: Tensor, chunk_key: str, rec: SampleRecord, table: FrameTable
) -> None:
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
