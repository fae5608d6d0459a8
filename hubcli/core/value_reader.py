"""Reading a label tensor's values: its value segments fetched, checked and decoded
once, and samples gathered from them in bulk (format_spec/values.md §1.2).

A segment of at most ``WHOLE_SEGMENT_BYTES`` is read whole with one request and kept
decoded in the dataset's cache; a bigger one is read as its header, its index and the
block-aligned data ranges that the wanted samples need.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hubcli.core.packets import named_object
from hubcli.core.tree import NodeReader, Tree
from hubcli.core.values import column_values, sample_value, stacked
from hubcli.errors import CorruptDatasetError, FrameIndexError
from hubcli.format import keys
from hubcli.format.values import (
    Column,
    ValueIndex,
    block_span,
    build_index,
    check_blocks,
    concat,
    decode_segment,
    parse_value_header,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    # numpy is imported by the functions that use it: `hubcli.load` and `hubcli info`
    # start without it (issue #15, tests/cli/test_startup.py).
    import numpy as np

    from hubcli.format.layout import SegmentEntry
    from hubcli.format.manifest import TensorMeta
    from hubcli.storage.base import Store

#: Value segments up to this size are read whole (one request) and cached decoded.
WHOLE_SEGMENT_BYTES = 4 << 20
#: Decoded values kept per dataset: immutable once committed, so never stale.
COLUMN_CACHE_BYTES = 256 << 20
#: Segments fetched at once from a remote store (each is one request).
REMOTE_FETCHES = 8


class ColumnCache:
    """Decoded value segments and big segments' indexes, bounded by bytes; shared by
    every version of a dataset and safe across threads."""

    def __init__(self, budget: int = COLUMN_CACHE_BYTES) -> None:
        self._items: OrderedDict[str, tuple[Column | ValueIndex, int]] = OrderedDict()
        self._bytes = 0
        self._budget = budget
        self._lock = threading.Lock()

    def get(self, key: str) -> Column | ValueIndex | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: str, value: Column | ValueIndex, size: int) -> None:
        with self._lock:
            if key in self._items:
                return
            self._items[key] = (value, size)
            self._bytes += size
            while self._bytes > self._budget and len(self._items) > 1:
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped


@dataclass(frozen=True)
class _Part:
    """Wanted samples of one segment: their offsets in it, and where they go."""

    entry: SegmentEntry
    offsets: np.ndarray
    slots: np.ndarray


class ValueReader:
    """Reads the samples of one label tensor as of one state."""

    def __init__(
        self, store: Store, meta: TensorMeta, cache: ColumnCache, read_node: NodeReader
    ) -> None:
        self.store = store
        self.meta = meta
        self.cache = cache
        self.tree = Tree(meta, read_node)

    @property
    def htype(self) -> str:
        return self.meta.htype

    @property
    def dtype(self) -> str:
        """The element dtype (a generic tensor without samples has none yet: any will do)."""
        info = self.meta.info
        return info.dtype if info is not None and info.dtype is not None else "uint8"

    # -- one sample -------------------------------------------------------------------

    def raw(self, index: int) -> np.ndarray:
        """Sample ``index`` as its stored array (int64 labels, UTF-8 bytes, ...)."""
        found = self.tree.locate(index)
        column = self._slice(found.entry, found.offset, found.offset + 1)
        if column.shape is not None:
            return column.data.reshape(column.shape)
        return column.data.reshape(column.sample_shapes()[0])

    def value(self, index: int) -> Any:
        return sample_value(self.htype, self.raw(index))

    # -- many samples -----------------------------------------------------------------

    def column(self, indices: Sequence[int] | None = None) -> Column:
        """The samples at logical ``indices`` (all when None), in that order."""
        import numpy as np

        if indices is None:
            return self._all()
        wanted = np.asarray(indices, dtype=np.int64)
        if len(wanted) and (wanted.min() < 0 or wanted.max() >= self.meta.length):
            bad = int(wanted[(wanted < 0) | (wanted >= self.meta.length)][0])
            raise FrameIndexError(
                f"sample {bad} is out of range for a tensor of {self.meta.length}"
            )
        physical = self._physical(wanted)
        parts = self._parts(physical)
        columns = self._fetch(parts)
        return _gather(parts, columns, len(wanted), self.dtype)

    def values(self, indices: Sequence[int] | None = None) -> list[Any]:
        return column_values(self.htype, self.column(indices))

    def array(self, indices: Sequence[int] | None = None) -> np.ndarray | None:
        """The samples stacked into one array, or None when their shapes differ."""
        return stacked(self.htype, self.column(indices))

    def segment_column(self, entry: SegmentEntry) -> Column:
        """Every sample of one segment (all of it read and checked)."""
        return self._slice(entry, 0, entry.count)

    # -- internals --------------------------------------------------------------------

    def _all(self) -> Column:
        import numpy as np

        entries = [e for _, e in self.tree.segments()]
        # Whole segments, without per-sample offset arrays (no gather to do).
        if self.store.remote and len(entries) > 1:
            with ThreadPoolExecutor(REMOTE_FETCHES) as pool:
                columns = list(pool.map(self.segment_column, entries))
        else:
            columns = [self.segment_column(e) for e in entries]
        column = concat(columns, self.dtype)
        deleted = self.meta.layout.deleted
        if not deleted:
            return column
        keep = np.setdiff1d(np.arange(column.count), np.asarray(deleted, np.int64))
        return take(column, keep)

    def _physical(self, logical: np.ndarray) -> np.ndarray:
        import numpy as np

        deleted = self.meta.layout.deleted
        if not deleted:
            return logical
        shifted = np.asarray(deleted, np.int64) - np.arange(len(deleted))
        return logical + np.searchsorted(shifted, logical, side="right")

    def _parts(self, physical: np.ndarray) -> list[_Part]:
        """The wanted positions grouped by segment (one walk of the segments when many
        are wanted, a tree lookup each when few)."""
        import numpy as np

        order = np.argsort(physical, kind="stable")
        ordered = physical[order]
        parts: list[_Part] = []
        if len(ordered) <= 8:
            for slot, position in zip(order.tolist(), ordered.tolist(), strict=True):
                found = self.tree.locate_physical(position)
                parts.append(_Part(found.entry, np.array([found.offset]), np.array([slot])))
            return parts
        for first, entry in self.tree.segments():
            lo, hi = np.searchsorted(ordered, [first, first + entry.count])
            if hi > lo:
                parts.append(_Part(entry, ordered[lo:hi] - first, order[lo:hi]))
            if hi == len(ordered):
                break
        return parts

    def _fetch(self, parts: list[_Part]) -> list[Column]:
        """Each part's segment samples (whole segments, or the span of a big one)."""
        if self.store.remote and len(parts) > 1:
            with ThreadPoolExecutor(REMOTE_FETCHES) as pool:
                return list(pool.map(self._part_column, parts))
        return [self._part_column(p) for p in parts]

    def _part_column(self, part: _Part) -> Column:
        import numpy as np

        lo, hi = int(part.offsets.min()), int(part.offsets.max()) + 1
        column = self._slice(part.entry, lo, hi)
        if hi - lo == len(part.offsets) and np.all(np.diff(part.offsets) == 1):
            return column
        return take(column, part.offsets - lo)

    def _slice(self, entry: SegmentEntry, start: int, stop: int) -> Column:
        """Samples ``[start, stop)`` of a segment."""
        key = keys.segment_key(self.meta.dir, entry.id)
        cached = self.cache.get(key)
        if isinstance(cached, Column):  # decoded already: the warm path, kept short
            return cached if (start, stop) == (0, entry.count) else cached.take(start, stop)
        where = self.store.describe(key)
        if cached is None and entry.size <= WHOLE_SEGMENT_BYTES:
            with named_object(self.store, key):
                data = self.store.get(key)
            cached = decode_segment(data, entry.header_size, entry.count, where)
            self._check_dtype(cached.data.dtype.name, where)
            self.cache.put(key, cached, entry.size)
            return cached if (start, stop) == (0, entry.count) else cached.take(start, stop)
        index = cached if isinstance(cached, ValueIndex) else self._index(key, entry, where)
        a, b = index.data_span(start, stop)
        return index.column(start, stop, self._body(key, entry, index, a, b, where))

    def _index(self, key: str, entry: SegmentEntry, where: str) -> ValueIndex:
        with named_object(self.store, key):
            head = self.store.get_range(key, 0, entry.header_size)
        header = parse_value_header(head, entry.header_size, entry.size, entry.count, where)
        self._check_dtype(header.dtype, where)
        index = build_index(
            header, lambda a, b: self._checked(key, entry, header, a, b, where), where
        )
        self.cache.put(key, index, entry.header_size + index.offsets.nbytes)
        return index

    def _check_dtype(self, dtype: str, where: str) -> None:
        """A segment's dtype MUST be its tensor's (values.md §1.1): its bytes are read as
        that type, so another would change every value."""
        info = self.meta.info
        if info is not None and info.dtype is not None and dtype != info.dtype:
            raise CorruptDatasetError(f"{where}: holds {dtype} values, its tensor {info.dtype}")

    def _body(
        self, key: str, entry: SegmentEntry, index: ValueIndex, a: int, b: int, where: str
    ) -> bytes:
        return self._checked(key, entry, index.header, a, b, where)

    def _checked(
        self, key: str, entry: SegmentEntry, header: Any, a: int, b: int, where: str
    ) -> bytes:
        """Body bytes ``[a, b)``, read as whole blocks and checked by their CRCs."""
        if a == b:
            return b""
        lo, hi = block_span(header, a, b)
        with named_object(self.store, key):
            data = self.store.get_range(key, entry.header_size + lo, entry.header_size + hi)
        check_blocks(header, lo, data, where)
        return data[a - lo : b - lo]


def take(column: Column, positions: np.ndarray) -> Column:
    """Samples at ``positions`` of ``column`` (vectorised for one shape)."""
    import numpy as np

    if column.shape is not None:
        per = int(np.prod(column.shape, dtype=np.int64)) if column.shape else 1
        rows = column.data.reshape(column.count, per)[positions]
        return Column(len(positions), rows.reshape(-1), column.shape)
    offsets = column.offsets()
    pieces = [column.data[offsets[p] : offsets[p + 1]] for p in positions.tolist()]
    shapes = column.sample_shapes()
    return Column.from_arrays(
        [piece.reshape(shapes[p]) for piece, p in zip(pieces, positions.tolist(), strict=True)],
        column.data.dtype.name,
    )


def _gather(parts: list[_Part], columns: list[Column], count: int, dtype: str) -> Column:
    """One column of ``count`` samples, each part's samples put at their slots."""
    import numpy as np

    if len(parts) == 1 and np.array_equal(parts[0].slots, np.arange(count)):
        return columns[0]
    joined = concat(columns, dtype)
    slots = np.concatenate([p.slots for p in parts]) if parts else np.zeros(0, np.int64)
    order = np.empty(count, np.int64)
    order[slots] = np.arange(count)
    return take(joined, order)
