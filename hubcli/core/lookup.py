"""The index lookup: where a sample is (its segment, its record, its chunk), the
segment headers and frame tables that say so, each read by a ranged read and checked
against its checksum, and the caches that keep them (format_spec/reading.md §1-2).
"""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from hubcli.core.packets import ByteSource, ChunkBytes, ReadAhead, named_object
from hubcli.core.tree import NodeReader, Tree
from hubcli.errors import CorruptDatasetError
from hubcli.format import keys
from hubcli.format.frames import FrameTable, decode_frame_table
from hubcli.format.manifest import LINK_VIDEO
from hubcli.format.nodes import parse_node
from hubcli.format.segment import ChunkRef, SampleRecord, SegmentHeader, parse_segment_header

if TYPE_CHECKING:
    from collections.abc import Hashable

    from hubcli.core.packets import LinkOpener
    from hubcli.format.layout import Node, SegmentEntry
    from hubcli.format.manifest import TensorMeta
    from hubcli.storage.base import Store

FRAME_TABLE_CACHE = 64
HEADER_CACHE = 256
NODE_CACHE = 1024

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class SampleLocation:
    """A sample's record and the objects it lives in (no chunk for a linked video):
    its segment (key and header size), its position in that segment, and its index in
    the tensor."""

    record: SampleRecord
    segment_key: str
    header_size: int
    position: int
    chunk: ChunkRef | None
    index: int

    @property
    def chunk_key(self) -> str | None:
        return None if self.chunk is None else self.chunk.key


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
    Each is bounded (a long-running reader of a big dataset keeps a working set) and
    locked (readers may share a dataset across threads)."""

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
    """Reads the samples of one tensor as of one state: looks a sample up once
    (:meth:`locate`), then reads what that location names. Owns the threads that fetch
    its packets ahead (``read_ahead``; :meth:`close` ends them)."""

    def __init__(
        self, store: Store, meta: TensorMeta, cache: ReadCache, open_link: LinkOpener | None = None
    ) -> None:
        self.store = store
        self.meta = meta
        self.cache = cache
        self.open_link = open_link
        self.tree = Tree(meta, cache.node_reader(store))
        self.read_ahead = ReadAhead()

    def close(self) -> None:
        """End the read-ahead threads (a later read starts them again)."""
        self.read_ahead.close()

    def locate(self, index: int) -> SampleLocation:
        """Where sample ``index`` is: one walk of the tree, one (cached) header."""
        found = self.tree.locate(index)
        header = self.header(found.entry)
        record = header.samples[found.offset]
        chunk = None if record.chunk is None else header.chunks[record.chunk]
        key = keys.segment_key(self.meta.dir, found.entry.id)
        return SampleLocation(record, key, found.entry.header_size, found.offset, chunk, index)

    def _located(self, sample: int | SampleLocation) -> SampleLocation:
        return sample if isinstance(sample, SampleLocation) else self.locate(sample)

    def header(self, entry: SegmentEntry) -> SegmentHeader:
        """A segment's header, read once and checked (its checksum, its sample count)."""
        key = keys.segment_key(self.meta.dir, entry.id)
        header = self.cache.headers.get(key)
        if header is None:
            header = self._read_header(key, entry)
            self.cache.headers.put(key, header)
        return header

    def _read_header(self, key: str, entry: SegmentEntry) -> SegmentHeader:
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
                f"{where}: holds {len(header.samples)} samples, its reference says {entry.count}"
            )
        return header

    def frame_table_bytes(self, entry: SegmentEntry, record: SampleRecord) -> bytes:
        """A sample's frame table as stored, checked by its CRC-32."""
        key = keys.segment_key(self.meta.dir, entry.id)
        where = self.store.describe(key)
        return self._table_bytes(key, entry.header_size, record, where)

    def _table_bytes(self, key: str, header_size: int, rec: SampleRecord, where: str) -> bytes:
        start = header_size + rec.frames_offset
        with named_object(self.store, key):
            data = self.store.get_range(key, start, start + rec.frames_size)
        if len(data) != rec.frames_size or zlib.crc32(data) & 0xFFFFFFFF != rec.frames_crc32:
            raise CorruptDatasetError(f"{where}: frame table checksum mismatch")
        return data

    def frame_table(self, sample: int | SampleLocation) -> FrameTable:
        """A sample's frame table (a location from :meth:`locate`, or an index)."""
        loc = self._located(sample)
        cache_key = (loc.segment_key, loc.position)
        table = self.cache.tables.get(cache_key)
        if table is not None:
            return table
        where = f"{self.store.describe(loc.segment_key)} sample {loc.index}"
        data = self._table_bytes(loc.segment_key, loc.header_size, loc.record, where)
        table = decode_frame_table(data, where)
        _check_table_fits(table, loc.record, where)
        self.cache.tables.put(cache_key, table)
        return table

    def byte_source(self, sample: int | SampleLocation) -> ByteSource:
        """Where a sample's packets are read from (a location, or an index)."""
        loc = self._located(sample)
        label = f"sample {loc.index} of {self.meta.name!r}"
        if loc.chunk_key is None:
            if self.open_link is None:
                raise CorruptDatasetError(
                    f"{label}: a linked sample, but links cannot be opened here"
                )
            return self.open_link(loc.record, label)
        where = f"{self.store.describe(loc.chunk_key)} ({label})"
        return ChunkBytes(self.store, loc.chunk_key, loc.record.offset, where)


def _check_table_fits(table: FrameTable, rec: SampleRecord, where: str) -> None:
    if table.data_end() > rec.size + rec.extra_size:
        raise CorruptDatasetError(f"{where}: packets point past the sample's bytes")
    if table.packet_count and int(table.size.min()) == 0:
        raise CorruptDatasetError(f"{where}: an empty packet")
    if table.frame_count != rec.shape[0]:
        raise CorruptDatasetError(
            f"{where}: frame table has {table.frame_count} frames, shape says {rec.shape[0]}"
        )
