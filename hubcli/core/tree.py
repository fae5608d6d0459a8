"""Walking a tensor's segment tree: locating a sample, listing its segments
(format_spec/log.md §3-§4). Nodes are read through the dataset's cache: they are
immutable, so a cached node never goes stale."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hubcli.errors import CorruptDatasetError, FrameIndexError
from hubcli.format import keys
from hubcli.format.layout import Entry, Node, NodePointer, SegmentEntry, locate_in

if TYPE_CHECKING:
    from hubcli.format.manifest import TensorMeta

#: Reads a node object: (key, level, count) -> Node.
NodeReader = Callable[[str, int, int], Node]


@dataclass(frozen=True, slots=True)
class Located:
    """Where physical sample ``position`` of a tensor is: segment ``entry``, at
    ``offset`` within it; ``first`` is the segment's first physical position."""

    entry: SegmentEntry
    offset: int
    first: int


class Tree:
    """One tensor's tree as of one state."""

    def __init__(self, meta: TensorMeta, read_node: NodeReader) -> None:
        self.meta = meta
        self.read_node = read_node
        # The spine, oldest first, with the level each entry's node sits at.
        self._top: list[tuple[int, Entry]] = [
            (level - 1, entry)
            for level in range(len(meta.layout.spine) - 1, -1, -1)
            for entry in meta.layout.spine[level]
        ]
        self._entries = [entry for _, entry in self._top]

    def node(self, pointer: NodePointer, level: int) -> Node:
        return self.read_node(keys.node_key(self.meta.dir, pointer.id), level, pointer.count)

    def locate(self, index: int) -> Located:
        """The segment holding logical sample ``index``."""
        length = self.meta.length
        if not 0 <= index < length:
            raise FrameIndexError(f"sample {index} is out of range for a tensor of {length}")
        return self.locate_physical(self.meta.layout.physical_index(index))

    def locate_physical(self, position: int) -> Located:
        """The segment holding physical position ``position`` (format_spec/log.md §3.1)."""
        k, offset = locate_in(self._entries, position)
        first = position - offset
        level, entry = self._top[k]
        while isinstance(entry, NodePointer):
            node = self.node(entry, level)
            k, offset = locate_in(node.entries, offset)
            first += sum(e.count for e in node.entries[:k])
            entry, level = node.entries[k], level - 1
        if level != -1:
            raise CorruptDatasetError(f"tensor {self.meta.name!r}: a node's level is wrong")
        return Located(entry, offset, first)

    def segments(self) -> Iterator[tuple[int, SegmentEntry]]:
        """``(first physical position, entry)`` of every segment, in order."""
        first = 0
        for level, entry in self._top:
            for segment in self._walk(entry, level):
                yield first, segment
                first += segment.count

    def _walk(self, entry: Entry, level: int) -> Iterator[SegmentEntry]:
        if isinstance(entry, SegmentEntry):
            yield entry
            return
        for child in self.node(entry, level).entries:
            yield from self._walk(child, level - 1)

    def walk(self, skip: set[str]) -> Iterator[tuple[str, SegmentEntry | None]]:
        """Every node key (with None) and segment key (with its entry) of this tree,
        except those in ``skip`` and everything under a node in ``skip`` (a sealed node
        never changes, so what it reaches was found when it was first walked)."""
        for level, entry in self._top:
            yield from self._walk_keys(entry, level, skip)

    def _walk_keys(
        self, entry: Entry, level: int, skip: set[str]
    ) -> Iterator[tuple[str, SegmentEntry | None]]:
        if isinstance(entry, SegmentEntry):
            key = keys.segment_key(self.meta.dir, entry.id)
            if key not in skip:
                yield key, entry
            return
        key = keys.node_key(self.meta.dir, entry.id)
        if key in skip:
            return
        yield key, None
        for child in self.node(entry, level).entries:
            yield from self._walk_keys(child, level - 1, skip)
