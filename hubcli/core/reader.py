"""Fetching what reads need: segment headers, frame tables and packets, each by a
ranged read and each checked against its checksum (format_spec/reading.md).
"""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import numpy as np

from hubcli.core.tree import NodeReader, Tree
from hubcli.errors import CorruptDatasetError
from hubcli.format import keys
from hubcli.format.frames import FrameTable, decode_frame_table
from hubcli.format.manifest import LINK_VIDEO
from hubcli.format.nodes import parse_node
from hubcli.format.segment import ChunkRef, SampleRecord, SegmentHeader, parse_segment_header

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from hubcli.format.layout import Node, SegmentEntry
    from hubcli.format.manifest import TensorMeta
    from hubcli.storage.base import Store
    from hubcli.video.plan import Run

#: Packets are fetched in batches of about this many bytes, so a long run streams
#: through constant memory instead of being read whole.
PACKET_BATCH_BYTES = 16 << 20
FRAME_TABLE_CACHE = 64
HEADER_CACHE = 256
NODE_CACHE = 1024
#: Batches fetched ahead of the decoder where a request waits on the network (so at
#: most this many x ``PACKET_BATCH_BYTES`` are held).
PREFETCH_DEPTH = 4

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class SampleLocation:
    """A sample's record and the objects it lives in (no chunk for a linked video):
    its segment (key and header size) and its position in that segment."""

    record: SampleRecord
    segment_key: str
    header_size: int
    position: int
    chunk: ChunkRef | None

    @property
    def chunk_key(self) -> str | None:
        return None if self.chunk is None else self.chunk.key


class ByteSource(Protocol):
    """Where a sample's packets are read from: its chunk, or the linked object."""

    where: str

    @property
    def coalesce_gap(self) -> int: ...

    @property
    def fetch_ahead(self) -> bool:
        """Whether a read waits on the network, so that reading ahead pays."""

    def damaged(self, packet: int) -> Exception:
        """The error for a packet whose bytes fail their CRC."""

    def read(self, ranges: list[tuple[int, int]]) -> list[bytes]: ...


@dataclass
class ChunkBytes:
    """A stored sample's region of its chunk."""

    store: Store
    key: str
    base: int
    where: str

    @property
    def coalesce_gap(self) -> int:
        return self.store.coalesce_gap

    @property
    def fetch_ahead(self) -> bool:
        return self.store.remote

    def read(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        with named_object(self.store, self.key):
            return self.store.get_ranges(
                self.key, [(self.base + a, self.base + b) for a, b in ranges]
            )

    def damaged(self, packet: int) -> Exception:
        return CorruptDatasetError(
            f"{self.where}: packet {packet} fails its checksum",
            hint="the chunk is damaged; restore it from a backup",
        )


@contextmanager
def named_object(store: Store, key: str) -> Iterator[None]:
    """An object the state names must exist: a missing one means a damaged dataset, or
    an old version whose objects gc removed while it was open."""
    try:
        yield
    except FileNotFoundError:
        raise CorruptDatasetError(
            f"{store.describe(key)} is missing, though this version of the dataset names it",
            hint="the dataset is damaged, or gc removed this old version: load it again",
        ) from None


#: Opens the bytes of a linked sample (the dataset resolves its creds key).
LinkOpener = Callable[[SampleRecord, str], ByteSource]


class _Lru(Generic[V]):
    """A small thread-safe LRU map (readers may share a dataset across threads)."""

    def __init__(self, size: int) -> None:
        self._items: OrderedDict[Hashable, V] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


class ReadCache:
    """Segment headers, tree nodes and recent frame tables: all immutable once
    committed, so entries never go stale; one cache serves every version of a dataset.
    Each is bounded (a long-running reader of a big dataset keeps a working set)."""

    def __init__(self) -> None:
        self.headers: _Lru[SegmentHeader] = _Lru(HEADER_CACHE)
        self.nodes: _Lru[Node] = _Lru(NODE_CACHE)
        self.tables: _Lru[FrameTable] = _Lru(FRAME_TABLE_CACHE)

    def node_reader(self, store: Store) -> NodeReader:
        """Reads nodes of ``store`` through this cache."""

        def read(key: str, level: int, count: int) -> Node:
            node = self.nodes.get(key)
            if node is None:
                with named_object(store, key):
                    data = store.get(key)
                node = parse_node(data, level, count, store.describe(key))
                self.nodes.put(key, node)
            return node

        return read


class SampleReader:
    """Reads the samples of one tensor as of one state."""

    def __init__(
        self, store: Store, meta: TensorMeta, cache: ReadCache, open_link: LinkOpener | None = None
    ) -> None:
        self.store = store
        self.meta = meta
        self.cache = cache
        self.open_link = open_link
        self.tree = Tree(meta, cache.node_reader(store))

    def locate(self, index: int) -> SampleLocation:
        found = self.tree.locate(index)
        header = self.header(found.entry)
        record = header.samples[found.offset]
        chunk = None if record.chunk is None else header.chunks[record.chunk]
        key = keys.segment_key(self.meta.dir, found.entry.id)
        return SampleLocation(record, key, found.entry.header_size, found.offset, chunk)

    def header(self, entry: SegmentEntry) -> SegmentHeader:
        """A segment's header, read once and checked (its checksum, its sample count)."""
        key = keys.segment_key(self.meta.dir, entry.id)
        header = self.cache.headers.get(key)
        if header is None:
            where = self.store.describe(key)
            with named_object(self.store, key):
                data = self.store.get_range(key, 0, entry.header_size)
            header = parse_segment_header(
                data,
                entry.sha256,
                self.meta.dir,
                self.meta.sample_compression,
                where,
                linked=self.meta.htype == LINK_VIDEO,
            )
            if len(header.samples) != entry.count:
                raise CorruptDatasetError(
                    f"{where}: holds {len(header.samples)} samples, its reference says "
                    f"{entry.count}"
                )
            self.cache.headers.put(key, header)
        return header

    def frame_table_bytes(self, entry: SegmentEntry, record: SampleRecord) -> bytes:
        """A sample's frame table as stored, checked by its CRC-32."""
        key = keys.segment_key(self.meta.dir, entry.id)
        start = entry.header_size + record.frames_offset
        with named_object(self.store, key):
            data = self.store.get_range(key, start, start + record.frames_size)
        if len(data) != record.frames_size or zlib.crc32(data) & 0xFFFFFFFF != record.frames_crc32:
            raise CorruptDatasetError(f"{self.store.describe(key)}: frame table checksum mismatch")
        return data

    def frame_table(self, index: int) -> FrameTable:
        loc = self.locate(index)
        cache_key = (loc.segment_key, loc.position)
        table = self.cache.tables.get(cache_key)
        if table is not None:
            return table
        rec, where = loc.record, f"{self.store.describe(loc.segment_key)} sample {index}"
        start = loc.header_size + rec.frames_offset
        with named_object(self.store, loc.segment_key):
            data = self.store.get_range(loc.segment_key, start, start + rec.frames_size)
        if len(data) != rec.frames_size or zlib.crc32(data) & 0xFFFFFFFF != rec.frames_crc32:
            raise CorruptDatasetError(f"{where}: frame table checksum mismatch")
        table = decode_frame_table(data, where)
        _check_table_fits(table, rec, where)
        self.cache.tables.put(cache_key, table)
        return table

    def byte_source(self, index: int) -> ByteSource:
        loc = self.locate(index)
        label = f"sample {index} of {self.meta.name!r}"
        if loc.chunk_key is None:
            if self.open_link is None:
                raise CorruptDatasetError(
                    f"{label}: a linked sample, but links cannot be opened here"
                )
            return self.open_link(loc.record, label)
        where = f"{self.store.describe(loc.chunk_key)} ({label})"
        return ChunkBytes(self.store, loc.chunk_key, loc.record.offset, where)


class RunPackets:
    """The packets of planned runs, for ``decode_frames``: a callable ``(start, stop)``
    yielding CRC-checked packets in decode order.

    Where the source waits on the network, the batches of the runs are fetched ahead
    in threads, ``PREFETCH_DEPTH`` at a time, in the order the decoder will want them:
    32 spaced frames of a remote video then cost about the slowest few requests, not
    the sum of 32 round trips. The bytes are the same either way. A context manager:
    leaving it drops what was fetched ahead and not used."""

    def __init__(self, source: ByteSource, table: FrameTable, runs: Sequence[Run]) -> None:
        self.source = source
        self.table = table
        self._ahead: deque[tuple[range, Future[_Fetched]]] = deque()
        self._todo: deque[range] = deque()
        self._pool: ThreadPoolExecutor | None = None
        if source.fetch_ahead:
            self._todo.extend(b for run in runs for b in _batches(table, run.start, run.stop))
        if len(self._todo) > 1:
            self._pool = ThreadPoolExecutor(PREFETCH_DEPTH, thread_name_prefix="hubcli-fetch")
            self._fill()

    def __enter__(self) -> RunPackets:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            for _, future in self._ahead:
                future.cancel()
            self._pool.shutdown(wait=False)

    def __call__(self, start: int, stop: int) -> Iterator[bytes]:
        for batch in _batches(self.table, start, stop):
            yield from _check_batch(self.source, self.table, batch, self._fetched(batch))

    def _fill(self) -> None:
        if self._pool is None:
            return
        while self._todo and len(self._ahead) < PREFETCH_DEPTH:
            batch = self._todo.popleft()
            future = self._pool.submit(_fetch_batch, self.source, self.table, batch)
            self._ahead.append((batch, future))

    def _fetched(self, batch: range) -> _Fetched:
        # A run the decoder left early skips its remaining batches: drop them.
        while self._ahead and self._ahead[0][0].start < batch.start:
            self._ahead.popleft()[1].cancel()
        if self._ahead and self._ahead[0][0] == batch:
            future = self._ahead.popleft()[1]
            self._fill()
            return future.result()
        # Not asked for yet (the skipped batches held the queue): take it, and what
        # the decoder skipped, off the plan, so that no batch is fetched twice.
        while self._todo and self._todo[0].start <= batch.start:
            self._todo.popleft()
        self._fill()
        return _fetch_batch(self.source, self.table, batch)


@dataclass(frozen=True, slots=True)
class _Fetched:
    """A batch's merged ranges, which of them holds each packet, and their bytes."""

    ranges: list[tuple[int, int]]
    owner: list[int]
    blobs: list[bytes]


def _fetch_batch(source: ByteSource, table: FrameTable, batch: range) -> _Fetched:
    """Read the packets of ``batch`` as merged ranges (see ``coalesce``)."""
    offsets = table.offset[batch.start : batch.stop]
    sizes = table.size[batch.start : batch.stop].astype(np.int64)
    ranges, owner = coalesce(offsets, sizes, source.coalesce_gap)
    return _Fetched(ranges, owner, source.read(ranges))


def _check_batch(
    source: ByteSource, table: FrameTable, batch: range, fetched: _Fetched
) -> Iterator[bytes]:
    """Cut ``batch``'s packets out of the merged ranges read for it; check each CRC-32."""
    offsets = table.offset[batch.start : batch.stop]
    sizes = table.size[batch.start : batch.stop].astype(np.int64)
    ranges, owner, blobs = fetched.ranges, fetched.owner, fetched.blobs
    for n, i in enumerate(batch):
        r = owner[n]
        lo = int(offsets[n]) - ranges[r][0]
        data = blobs[r][lo : lo + int(sizes[n])]
        if len(data) != sizes[n] or zlib.crc32(data) & 0xFFFFFFFF != int(table.crc32[i]):
            raise source.damaged(i)
        yield data


def coalesce(
    offsets: np.ndarray, sizes: np.ndarray, max_gap: int
) -> tuple[list[tuple[int, int]], list[int]]:
    """Merge byte ranges whose gap is at most ``max_gap``. Returns the merged ranges and,
    for each input range, the index of the merged range holding it."""
    order = np.argsort(offsets, kind="stable")
    ranges: list[tuple[int, int]] = []
    owner = [0] * len(offsets)
    for n in order:
        a, b = int(offsets[n]), int(offsets[n] + sizes[n])
        if ranges and a - ranges[-1][1] <= max_gap:
            ranges[-1] = (ranges[-1][0], max(ranges[-1][1], b))
        else:
            ranges.append((a, b))
        owner[n] = len(ranges) - 1
    return ranges, owner


def _batches(table: FrameTable, start: int, stop: int) -> Iterator[range]:
    sizes = table.size[start:stop].astype(np.int64)
    ends = np.cumsum(sizes)
    first = start
    while first < stop:
        # Take packets until the batch passes the byte budget (at least one packet).
        done = int(ends[first - start - 1]) if first > start else 0
        last = int(np.searchsorted(ends, done + PACKET_BATCH_BYTES, side="right")) + start
        last = min(max(last, first + 1), stop)
        yield range(first, last)
        first = last


def _check_table_fits(table: FrameTable, rec: SampleRecord, where: str) -> None:
    if table.data_end() > rec.size + rec.extra_size:
        raise CorruptDatasetError(f"{where}: packets point past the sample's bytes")
    if table.packet_count and int(table.size.min()) == 0:
        raise CorruptDatasetError(f"{where}: an empty packet")
    if table.frame_count != rec.shape[0]:
        raise CorruptDatasetError(
            f"{where}: frame table has {table.frame_count} frames, shape says {rec.shape[0]}"
        )
