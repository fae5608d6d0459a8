"""Turning sources into stored samples: index every source, then copy their bytes into
new chunks and describe them in a new segment (format_spec/commit.md §2, steps 1-3).

Nothing written here is visible until the caller commits a manifest naming the
segment; on any failure the caller deletes ``StagedSegment.written``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

from hubcli.errors import InvalidSampleError
from hubcli.format import keys
from hubcli.format.frames import encode_frame_table
from hubcli.format.segment import (
    CHUNK_MAGIC,
    PREFIX_SIZE,
    ChunkRef,
    SampleRecord,
    encode_segment,
    header_digest,
)
from hubcli.video.index import IndexedVideo, index_video

if TYPE_CHECKING:
    from hubcli.core.sources import VideoSource
    from hubcli.storage.base import Store

#: A new chunk is started when the next sample would take the current one past this.
CHUNK_TARGET_BYTES = 16 << 20
_COPY_BLOCK = 1 << 20

#: Called with the number of source bytes just processed (indexing or copying).
Progress = Callable[[int], None]


@dataclass(frozen=True)
class Prepared:
    """A source that was indexed and found to be a valid video of the right container."""

    source: VideoSource
    indexed: IndexedVideo
    size: int
    mtime_ns: int


@dataclass
class StagedSegment:
    key: str
    count: int
    size: int
    header_size: int
    header_sha256: str
    written: list[str] = field(default_factory=list)


def prepare(source: VideoSource, compression: str, tensor: str) -> Prepared:
    """Index ``source`` and check it is a ``compression`` container."""
    st = source.stat()
    indexed = index_video(source.open, st.st_size, source.name)
    if indexed.format != compression:
        raise InvalidSampleError(
            f"{source.name}: is a {indexed.format} file, tensor {tensor!r} holds {compression}",
            hint=f"append {compression} files, or use a tensor with "
            f"sample_compression={indexed.format!r}",
        )
    return Prepared(source, indexed, st.st_size, st.st_mtime_ns)


def stage_segment(
    store: Store,
    tensor: str,
    samples: Sequence[Prepared],
    written: list[str],
    progress: Progress | None = None,
) -> StagedSegment:
    """Write chunks and the segment for ``samples``; every key written is appended to
    ``written`` as soon as it exists, so the caller can remove them on failure."""
    packer = _ChunkPacker(store, tensor, written, progress)
    try:
        records = [packer.add(prepared) for prepared in samples]
        packer.close()
    except BaseException as exc:
        packer.abort(exc)
        raise
    frame_tables = [encode_frame_table(p.indexed.table) for p in samples]
    data = encode_segment(packer.chunks, records, frame_tables)
    key = keys.segment_key(tensor, keys.new_object_id())
    written.append(key)
    store.put(key, data)
    header_size = PREFIX_SIZE + int.from_bytes(data[8:16], "little")
    return StagedSegment(
        key, len(samples), len(data), header_size, header_digest(data[:header_size]), written
    )


class _ChunkPacker:
    """Packs sample bytes into chunks of about CHUNK_TARGET_BYTES."""

    def __init__(
        self, store: Store, tensor: str, written: list[str], progress: Progress | None
    ) -> None:
        self.store, self.tensor, self.written = store, tensor, written
        self.progress = progress
        self.chunks: list[ChunkRef] = []
        self._stack: ExitStack | None = None
        self._file: BinaryIO | None = None
        self._key = ""
        self._size = 0
        self._sha = hashlib.sha256()

    def add(self, prepared: Prepared) -> SampleRecord:
        idx = prepared.indexed
        need = prepared.size + len(idx.supplement)
        if self._file is None or (
            self._size > len(CHUNK_MAGIC) and self._size + need > CHUNK_TARGET_BYTES
        ):
            self.close()
            self._open()
        offset = self._size
        sample_sha = self._copy(prepared)
        self._write(idx.supplement)
        return SampleRecord(
            chunk=len(self.chunks),
            offset=offset,
            size=prepared.size,
            extra_size=len(idx.supplement),
            sha256=sample_sha,
            frames_offset=0,
            frames_size=0,
            frames_crc32=0,
            filename=prepared.source.name,
            format=idx.format,
            shape=idx.shape,
            fps=idx.fps,
            time_base=(idx.time_base.numerator, idx.time_base.denominator),
            duration=idx.duration,
            codec=idx.codec,
        )

    def _open(self) -> None:
        self._key = keys.chunk_key(self.tensor, keys.new_object_id())
        self.written.append(self._key)
        self._stack = ExitStack()
        self._file = self._stack.enter_context(self.store.open_writer(self._key))
        self._size, self._sha = 0, hashlib.sha256()
        self._write(CHUNK_MAGIC)

    def _write(self, data: bytes) -> None:
        assert self._file is not None
        self._file.write(data)
        self._sha.update(data)
        self._size += len(data)

    def _copy(self, prepared: Prepared) -> bytes:
        """Stream the source into the chunk, hashing it; refuse if it changed since it was
        indexed (the index would no longer describe the bytes)."""
        sha, copied = hashlib.sha256(), 0
        with prepared.source.open() as src:
            while block := src.read(_COPY_BLOCK):
                self._write(block)
                sha.update(block)
                copied += len(block)
                if self.progress:
                    self.progress(len(block))
        st = prepared.source.stat()
        if (
            copied != prepared.size
            or st.st_size != prepared.size
            or st.st_mtime_ns != prepared.mtime_ns
        ):
            raise InvalidSampleError(
                f"{prepared.source.name}: the file changed while it was being appended",
                hint="append it again",
            )
        return sha.digest()

    def close(self) -> None:
        """Finish the open chunk (it appears in the store only now)."""
        if self._stack is not None:
            stack, self._stack, self._file = self._stack, None, None
            stack.close()
            self.chunks.append(ChunkRef(self._key, self._size, self._sha.digest()))

    def abort(self, exc: BaseException) -> None:
        """Drop the open chunk: its writer sees the exception and never publishes it."""
        if self._stack is not None:
            stack, self._stack, self._file = self._stack, None, None
            stack.__exit__(type(exc), exc, exc.__traceback__)
