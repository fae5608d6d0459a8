"""Turning sources into stored samples: each source is fetched (if remote), indexed,
and copied into a chunk; then one segment describes them all (format_spec/commit.md §2,
steps 1-3).

Sources are processed one at a time, so memory holds one frame table and a copy
buffer, and a temp disk holds at most one downloaded source. Nothing written here is
visible until the caller commits a manifest naming the segment; on any failure the
caller deletes ``written``.

A parallel append (core/parallel.py) splits this in two: each worker stores a batch of
sources in chunks (:func:`stage_samples`), and the caller joins the batches, in input
order, into segments (:class:`SegmentWriter`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, BinaryIO

from hubcli.core.sources import container_noun
from hubcli.errors import HubcliError, InvalidSampleError
from hubcli.format import keys
from hubcli.format.frames import encode_frame_table
from hubcli.format.layout import SegmentEntry
from hubcli.format.segment import (
    CHUNK_MAGIC,
    ChunkRef,
    LinkInfo,
    SampleRecord,
    encode_segment,
    record_size,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from hubcli.core.sources import LinkSource, LocalVideo, Progress, SecretsFor, VideoSource
    from hubcli.format.manifest import TensorMeta
    from hubcli.storage.base import Store
    from hubcli.video.index import IndexedVideo

#: A new chunk is started when the next sample would take the current one past this.
CHUNK_TARGET_BYTES = 16 << 20
#: A segment is written once its header reaches this (the format's limit is 64 MiB),
#: or its frame tables reach SEGMENT_TABLES_BUDGET; one append may write several.
SEGMENT_HEADER_BUDGET = 32 << 20
SEGMENT_TABLES_BUDGET = 64 << 20
_COPY_BLOCK = 1 << 20


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
) -> list[StagedSegment]:
    """Write chunks and segments for ``sources`` (one segment, or several for an append
    too big for one: see SEGMENT_HEADER_BUDGET). Every key written is appended to
    ``written`` as soon as it may exist, so the caller can remove them on failure. An
    error about a source carries ``source_index``."""
    packer = _ChunkPacker(store, meta.dir, written, progress)
    segments = _Segments(store, meta.dir, written)
    try:
        for n, source in enumerate(sources):
            try:
                with source.materialize(progress) as local:
                    indexed = _index(local, source.name, meta.sample_compression, meta.name)
                    if progress:
                        progress(local.size)
                    record = packer.add(source.name, local, indexed)
                    if segments.add(record, encode_frame_table(indexed.table)):
                        packer.close()  # a segment's chunks are its own
                        segments.flush(packer.take_chunks())
            except HubcliError as exc:
                exc.source_index = n  # which source failed, for callers that number them
                raise
        packer.close()
    except BaseException as exc:
        packer.abort(exc)
        raise
    segments.flush(packer.take_chunks())
    return segments.staged


@dataclass
class StagedSamples:
    """Samples whose bytes are stored (in chunks of their own; none for links) but that
    no segment names yet: what one worker of a parallel append (``jobs=N``, or a Ray
    write task) hands back. Picklable, and holds no secret. ``records`` number their
    chunks from 0 in ``chunks``; ``keys`` is every object written, for the clean-up of a
    failed append."""

    first: int
    chunks: list[ChunkRef] = field(default_factory=list)
    records: list[SampleRecord] = field(default_factory=list)
    tables: list[bytes] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)


def stage_samples(
    store: Store,
    meta: TensorMeta,
    sources: Sequence[VideoSource],
    *,
    first: int = 0,
    progress: Progress | None = None,
    on_file: Callable[[int, int], None] | None = None,
) -> StagedSamples:
    """Index and store ``sources`` (positions ``first``, ``first + 1``... of an append)
    in chunks, writing no segment: :class:`SegmentWriter` joins the batches of several
    workers into segments, in order. The checks are those of :func:`stage_segment`. On
    failure the chunks written are removed (nothing names them) and the error carries
    ``source_index``. ``on_file(position, size)`` is called as each source is stored."""
    staged = StagedSamples(first)
    packer = _ChunkPacker(store, meta.dir, staged.keys, progress)
    try:
        for n, source in enumerate(sources, start=first):
            try:
                with source.materialize(progress) as local:
                    indexed = _index(local, source.name, meta.sample_compression, meta.name)
                    if progress:
                        progress(local.size)
                    staged.records.append(packer.add(source.name, local, indexed))
                    staged.tables.append(encode_frame_table(indexed.table))
            except HubcliError as exc:
                exc.source_index = n
                raise
            if on_file:
                on_file(n, local.size)
        packer.close()
    except BaseException as exc:
        packer.abort(exc)
        _remove(store, staged.keys)
        raise
    staged.chunks = packer.take_chunks()
    return staged


def stage_link_samples(
    meta: TensorMeta,
    sources: Sequence[LinkSource],
    secrets_for: SecretsFor,
    *,
    first: int = 0,
    progress: Progress | None = None,
    on_file: Callable[[int, int], None] | None = None,
) -> StagedSamples:
    """Index linked videos in place (as :func:`stage_link_segment`), writing nothing."""
    staged = StagedSamples(first)
    for n, source in enumerate(sources, start=first):
        try:
            record, indexed = stage_link(
                source, meta.sample_compression, meta.name, secrets_for, progress
            )
        except HubcliError as exc:
            exc.source_index = n
            raise
        staged.records.append(record)
        staged.tables.append(encode_frame_table(indexed.table))
        if on_file:
            on_file(n, record.size)
    return staged


def _remove(store: Store, written: list[str]) -> None:
    """Best effort: unreferenced objects left behind are what ``gc`` removes."""
    for key in written:
        with contextlib.suppress(Exception):
            store.delete(key)


class SegmentWriter:
    """Joins batches of staged samples (:class:`StagedSamples`) into segments, in the
    order of their ``first`` whatever the order they arrive in: a batch waits until
    those before it are written. A segment is written once it reaches the budgets of
    :func:`stage_segment`, always between batches, so no chunk is named by two
    segments."""

    def __init__(self, store: Store, directory: str, written: list[str]) -> None:
        self._segments = _Segments(store, directory, written)
        self._chunks: list[ChunkRef] = []
        self._waiting: dict[int, StagedSamples] = {}
        self.next = 0  # the position of the next sample to write

    def add(self, batch: StagedSamples) -> None:
        self._waiting[batch.first] = batch
        while self.next in self._waiting:
            ready = self._waiting.pop(self.next)
            self.next += len(ready.records)
            self._join(ready)

    def _join(self, batch: StagedSamples) -> None:
        base, full = len(self._chunks), False
        self._chunks.extend(batch.chunks)
        for record, table in zip(batch.records, batch.tables, strict=True):
            moved = record if record.chunk is None else replace(record, chunk=record.chunk + base)
            full = self._segments.add(moved, table) or full
        if full:
            self.flush()

    def flush(self) -> None:
        self._segments.flush(self._chunks)
        self._chunks = []

    def finish(self) -> list[StagedSegment]:
        """Write the last segment; every batch must have arrived."""
        if self._waiting:
            raise RuntimeError(f"samples from {self.next} on never arrived")
        self.flush()
        return self._segments.staged


def stage_link_segment(
    store: Store,
    meta: TensorMeta,
    sources: Sequence[LinkSource],
    secrets_for: SecretsFor,
    written: list[str],
    progress: Progress | None = None,
) -> list[StagedSegment]:
    """Index linked videos in place and write the segments describing them (no chunks)."""
    segments = _Segments(store, meta.dir, written)
    for n, source in enumerate(sources):
        try:
            record, indexed = stage_link(
                source, meta.sample_compression, meta.name, secrets_for, progress
            )
        except HubcliError as exc:
            exc.source_index = n
            raise
        if segments.add(record, encode_frame_table(indexed.table)):
            segments.flush([])
    segments.flush([])
    return segments.staged


def stage_link(
    source: LinkSource,
    compression: str | None,
    tensor: str,
    secrets_for: SecretsFor,
    progress: Progress | None,
) -> tuple[SampleRecord, IndexedVideo]:
    """Index a linked video in place: read it once (streamed to a temp file), keep its
    identity; nothing of it is copied into the dataset."""
    from hubcli.storage.links import open_linked  # only a link append needs it

    obj = open_linked(source.url, secrets_for(source.creds_key))
    before = obj.identity()
    with obj.spool() as path:
        size = os.path.getsize(path)
        from hubcli.video.index import index_video  # PyAV loads when a video is indexed

        indexed = index_video(lambda: open(path, "rb"), size, obj.shown)  # noqa: SIM115
        if compression is not None and indexed.format != compression:
            raise InvalidSampleError(
                f"{obj.shown}: is {container_noun(indexed.format)}, tensor {tensor!r} holds "
                f"{compression}",
                hint=f"link {compression} files, or use a link tensor without sample_compression",
            )
        if indexed.supplement:
            raise InvalidSampleError(
                f"{obj.shown}: some packets are not stored verbatim in the file (laced or "
                "header-stripped Matroska), so it cannot be read in place",
                hint="append it to a video tensor instead of linking it",
            )
        digest = _sha256(path)
        if progress:
            progress(size)
    after = obj.identity()
    if not after.same_as(before) or after.size != size:
        raise InvalidSampleError(
            f"{obj.shown}: the object changed while it was being linked", hint="link it again"
        )
    link_info = LinkInfo(source.url, source.creds_key, before.etag, before.modified)
    record = indexed.to_record(
        chunk=None, offset=0, size=size, sha256=digest, filename=obj.shown, link=link_info
    )
    return record, indexed


def _sha256(path: str) -> bytes:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            sha.update(block)
    return sha.digest()


class _Segments:
    """Records and frame tables on their way into segment objects. A segment is written
    when its header reaches SEGMENT_HEADER_BUDGET or its frame tables
    SEGMENT_TABLES_BUDGET: readers read a header whole (and the format caps it), and
    the tables are held in memory until they are written."""

    def __init__(self, store: Store, directory: str, written: list[str]) -> None:
        self.store, self.directory, self.written = store, directory, written
        self.records: list[SampleRecord] = []
        self.tables: list[bytes] = []
        self.header_bytes = 0
        self.table_bytes = 0
        self.staged: list[StagedSegment] = []

    def add(self, record: SampleRecord, table: bytes) -> bool:
        """Hold one sample; True when the segment should be written now."""
        self.records.append(record)
        self.tables.append(table)
        self.header_bytes += record_size(record)
        self.table_bytes += len(table)
        return (
            self.header_bytes >= SEGMENT_HEADER_BUDGET or self.table_bytes >= SEGMENT_TABLES_BUDGET
        )

    def flush(self, chunks: list[ChunkRef]) -> None:
        """Write the held samples as one segment."""
        if not self.records:
            return
        data, header_size = encode_segment(self.directory, chunks, self.records, self.tables)
        object_id = keys.new_object_id()
        key = keys.segment_key(self.directory, object_id)
        self.written.append(key)
        self.store.put(key, data)
        entry = SegmentEntry(object_id, len(self.records), header_size, len(data))
        self.staged.append(StagedSegment(entry, sum(r.size for r in self.records)))
        self.records, self.tables = [], []
        self.header_bytes = self.table_bytes = 0


def _index(local: LocalVideo, name: str, compression: str | None, tensor: str) -> IndexedVideo:
    """Index the file and check it is a ``compression`` container."""
    from hubcli.video.index import index_video  # PyAV loads when a video is indexed

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

    def take_chunks(self) -> list[ChunkRef]:
        """The finished chunks, for the segment being written; later samples start a
        new list (their records' chunk numbers count from 0 again)."""
        chunks, self.chunks = self.chunks, []
        return chunks

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
