"""Turning sources into stored samples: each source is fetched (if remote), indexed,
and copied into a chunk; then one segment describes them all (format_spec/commit.md §2,
steps 1-3).

Sources are processed one at a time, so memory holds one frame table and a copy
buffer, and a temp disk holds at most one downloaded source. Nothing written here is
visible until the caller commits a manifest naming the segment; on any failure the
caller deletes ``written``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from hubcli.core.links import LinkSource, SecretsFor, stage_link
from hubcli.errors import HubcliError, InvalidSampleError
from hubcli.format import keys
from hubcli.format.frames import encode_frame_table
from hubcli.format.layout import SegmentEntry
from hubcli.format.segment import CHUNK_MAGIC, ChunkRef, SampleRecord, encode_segment
from hubcli.video.index import IndexedVideo, index_video

if TYPE_CHECKING:
    from hubcli.core.sources import LocalVideo, VideoSource
    from hubcli.format.manifest import TensorMeta
    from hubcli.storage.base import Store

#: A new chunk is started when the next sample would take the current one past this.
CHUNK_TARGET_BYTES = 16 << 20
_COPY_BLOCK = 1 << 20

#: Called with byte counts: downloaded, indexed, then copied.
Progress = Callable[[int], None]


@dataclass
class StagedSegment:
    """A written segment: its entry for the tensor's tree, and the bytes of video it
    holds (stored, or linked)."""

    entry: SegmentEntry
    nbytes: int


def stage_segment(
    store: Store,
    meta: TensorMeta,
    sources: Sequence[VideoSource],
    written: list[str],
    progress: Progress | None = None,
) -> StagedSegment:
    """Write chunks and the segment for ``sources``. Every key written is appended to
    ``written`` as soon as it may exist, so the caller can remove them on failure. An
    error about a source carries ``source_index``."""
    packer = _ChunkPacker(store, meta.dir, written, progress)
    records, tables = [], []
    try:
        for n, source in enumerate(sources):
            try:
                with source.materialize(progress) as local:
                    indexed = _index(local, source.name, meta.sample_compression, meta.name)
                    if progress:
                        progress(local.size)
                    records.append(packer.add(source.name, local, indexed))
                    tables.append(encode_frame_table(indexed.table))
            except HubcliError as exc:
                exc.source_index = n  # which source failed, for callers that number them
                raise
        packer.close()
    except BaseException as exc:
        packer.abort(exc)
        raise
    return _write_segment(store, meta.dir, packer.chunks, records, tables, written)


def stage_link_segment(
    store: Store,
    meta: TensorMeta,
    sources: Sequence[LinkSource],
    secrets_for: SecretsFor,
    written: list[str],
    progress: Progress | None = None,
) -> StagedSegment:
    """Index linked videos in place and write the segment describing them (no chunks)."""
    records, tables = [], []
    for n, source in enumerate(sources):
        try:
            record, indexed = stage_link(
                source, meta.sample_compression, meta.name, secrets_for, progress
            )
        except HubcliError as exc:
            exc.source_index = n
            raise
        records.append(record)
        tables.append(encode_frame_table(indexed.table))
    return _write_segment(store, meta.dir, [], records, tables, written)


def _write_segment(
    store: Store,
    directory: str,
    chunks: list[ChunkRef],
    records: list[SampleRecord],
    tables: list[bytes],
    written: list[str],
) -> StagedSegment:
    data, header_size = encode_segment(directory, chunks, records, tables)
    object_id = keys.new_object_id()
    key = keys.segment_key(directory, object_id)
    written.append(key)
    store.put(key, data)
    entry = SegmentEntry(object_id, len(records), header_size, len(data))
    return StagedSegment(entry, sum(r.size for r in records))


def _index(local: LocalVideo, name: str, compression: str | None, tensor: str) -> IndexedVideo:
    """Index the file and check it is a ``compression`` container."""
    indexed = index_video(local.open, local.size, name)
    if compression is not None and indexed.format != compression:
        raise InvalidSampleError(
            f"{name}: is a {indexed.format} file, tensor {tensor!r} holds {compression}",
            hint=f"append {compression} files, "
            f"or use a tensor with sample_compression={indexed.format!r}",
        )
    return indexed


class _ChunkPacker:
    """Packs sample bytes into chunks of about CHUNK_TARGET_BYTES."""

    def __init__(
        self, store: Store, directory: str, written: list[str], progress: Progress | None
    ) -> None:
        self.store, self.directory, self.written = store, directory, written
        self.progress = progress
        self.chunks: list[ChunkRef] = []
        self._stack: ExitStack | None = None
        self._file: BinaryIO | None = None
        self._key = ""
        self._size = 0

    def add(self, name: str, local: LocalVideo, idx: IndexedVideo) -> SampleRecord:
        need = local.size + len(idx.supplement)
        if self._file is None or (
            self._size > len(CHUNK_MAGIC) and self._size + need > CHUNK_TARGET_BYTES
        ):
            self.close()
            self._open()
        offset = self._size
        sample_sha = self._copy(name, local)
        self._write(idx.supplement)
        return idx.to_record(
            chunk=len(self.chunks), offset=offset, size=local.size, sha256=sample_sha, filename=name
        )

    def _open(self) -> None:
        self._key = keys.chunk_key(self.directory, keys.new_object_id())
        self.written.append(self._key)
        self._stack = ExitStack()
        self._file = self._stack.enter_context(self.store.open_writer(self._key))
        self._size = 0
        self._write(CHUNK_MAGIC)

    def _write(self, data: bytes) -> None:
        assert self._file is not None
        self._file.write(data)
        self._size += len(data)

    def _copy(self, name: str, local: LocalVideo) -> bytes:
        """Stream the file into the chunk, hashing it."""
        sha, copied = hashlib.sha256(), 0
        with local.open() as src:
            while block := src.read(_COPY_BLOCK):
                self._write(block)
                sha.update(block)
                copied += len(block)
                if self.progress:
                    self.progress(len(block))
        if copied != local.size:
            raise InvalidSampleError(
                f"{name}: the file changed while it was being appended", hint="append it again"
            )
        return sha.digest()

    def close(self) -> None:
        """Finish the open chunk (it appears in the store only now)."""
        if self._stack is not None:
            stack, self._stack, self._file = self._stack, None, None
            stack.close()
            self.chunks.append(ChunkRef(self._key, self._size))

    def abort(self, exc: BaseException) -> None:
        """Drop the open chunk: its writer sees the exception and never publishes it."""
        if self._stack is not None:
            stack, self._stack, self._file = self._stack, None, None
            stack.__exit__(type(exc), exc, exc.__traceback__)
