"""Where a tensor's samples are: an append-only tree of segment references
(format_spec/log.md §3). Pure: no I/O.

A tensor's samples are the samples of its segments, in order. A commit adds one
segment reference at the end; listing every reference in every version would make the
dataset's metadata grow as the square of its commits. Instead the references form a
tree whose full nodes are sealed into immutable node objects, and only the unsealed
tail, the *spine*, is kept in the dataset's state:

- ``spine[0]`` holds segment entries (the newest segments);
- ``spine[L]`` (L >= 1) holds pointers to sealed nodes of level ``L - 1``;
- a level-0 node holds ``fanout`` segment entries, a level-L node ``fanout`` pointers.

When an append makes ``spine[L]`` reach ``fanout`` entries, they are sealed into a node
and a pointer to it joins ``spine[L + 1]``. Older samples sit in higher levels, so the
samples of a tensor are, in order: the entries of ``spine[top]``, ..., ``spine[0]``.
The spine holds fewer than ``fanout`` entries a level, so the state stays
O(fanout x log(segments)) while every segment reference is written into a node once.

Removed samples are a sorted *deletion vector* of physical positions (positions in the
concatenation of all segments); logical index ``i`` is the ``i``-th position not in it.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from hubcli.errors import CorruptDatasetError, FrameIndexError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

#: Entries a node holds, and the most a spine level holds before it is sealed.
DEFAULT_FANOUT = 64


class SegmentEntry(NamedTuple):
    """A reference to one segment object of the tensor (``tensors/<dir>/segments/<id>.seg``).

    ``sha256`` (hex) is set only for segments written by format 1.0/1.1, whose header is
    checked against it; 1.2 segments carry a CRC-32 of their header in their prefix.
    (Named tuples: a state is parsed at every open, and these are built by the hundred.)"""

    id: str
    count: int  # type: ignore[assignment]  # shadows tuple.count, unused here
    header_size: int
    size: int
    sha256: str | None = None


class NodePointer(NamedTuple):
    """A reference to a sealed node object (``tensors/<dir>/nodes/<id>.node``) and the
    number of physical samples under it."""

    id: str
    count: int  # type: ignore[assignment]  # shadows tuple.count, unused here


Entry = SegmentEntry | NodePointer


@dataclass(frozen=True, slots=True)
class Node:
    """A sealed node: ``level`` 0 holds segment entries, higher levels node pointers."""

    level: int
    entries: tuple[Entry, ...]

    @property
    def count(self) -> int:
        return sum(e.count for e in self.entries)


@dataclass(frozen=True, slots=True)
class Layout:
    """A tensor's samples: the spine of its segment tree and its deletion vector."""

    spine: tuple[tuple[Entry, ...], ...] = ()
    deleted: tuple[int, ...] = ()
    physical: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        total = sum(e.count for level in self.spine for e in level)
        object.__setattr__(self, "physical", total)

    @property
    def length(self) -> int:
        return self.physical - len(self.deleted)

    def ordered(self) -> Iterator[tuple[int, Entry]]:
        """``(first physical position, entry)`` for every spine entry, oldest first."""
        first = 0
        for level in reversed(self.spine):
            for entry in level:
                yield first, entry
                first += entry.count

    # --- indices --------------------------------------------------------------------
    def physical_index(self, index: int) -> int:
        """The physical position of logical sample ``index`` (0 <= index < length)."""
        if not self.deleted:
            return index
        # deleted[k] - k = logical positions skipped before deleted[k]: the first k with
        # that above ``index`` says how many deleted positions lie at or before it.
        # (numpy only here: reading a state must not pay for it)
        return index + bisect.bisect_right(self._shifted(), index)

    def _shifted(self) -> list[int]:
        return [d - k for k, d in enumerate(self.deleted)]

    def physical_indices(self, indices: Sequence[int]) -> list[int]:
        return [self.physical_index(i) for i in indices]

    # --- changes (each returns a new Layout) ---------------------------------------------
    def appended(
        self, entry: SegmentEntry, fanout: int, new_id: Callable[[], str]
    ) -> tuple[Layout, list[tuple[str, Node]]]:
        """This layout with ``entry`` at the end, and the nodes that sealing created, in
        the order they were sealed: ``(id, node)``, ids from ``new_id``."""
        levels = [list(level) for level in self.spine] or [[]]
        levels[0].append(entry)
        sealed: list[tuple[str, Node]] = []
        level = 0
        while level < len(levels) and len(levels[level]) >= fanout:
            node = Node(level, tuple(levels[level][:fanout]))
            node_id = new_id()
            sealed.append((node_id, node))
            del levels[level][:fanout]
            if level + 1 == len(levels):
                levels.append([])
            levels[level + 1].append(NodePointer(node_id, node.count))
            level += 1
        spine = tuple(tuple(level) for level in levels)
        return Layout(spine, self.deleted), sealed

    def with_deleted(self, indices: Sequence[int], where: str) -> Layout:
        """This layout with logical samples ``indices`` removed (later ones shift down)."""
        length = self.length
        for i in indices:
            if not 0 <= i < length:
                raise FrameIndexError(f"{where}: sample {i} is out of range (length {length})")
        positions = set(self.deleted)
        positions.update(self.physical_indices(sorted(set(indices))))
        return Layout(self.spine, tuple(sorted(positions)))


def build_layout(
    entries: Sequence[SegmentEntry], fanout: int, new_id: Callable[[], str]
) -> tuple[Layout, list[tuple[str, Node]]]:
    """A layout holding ``entries`` in order (as if appended one by one), and its nodes."""
    layout, nodes = Layout(), []
    for entry in entries:
        layout, sealed = layout.appended(entry, fanout, new_id)
        nodes.extend(sealed)
    return layout, nodes


class RecordedIds:
    """Hands out the node ids a commit record names, in order, for replaying it: the
    record must name exactly the nodes its append seals."""

    def __init__(self, ids: Sequence[str], where: str) -> None:
        self._ids = list(ids)
        self._where = where

    def __call__(self) -> str:
        if not self._ids:
            raise CorruptDatasetError(f"{self._where}: names fewer sealed nodes than it seals")
        return self._ids.pop(0)

    def check_used(self) -> None:
        if self._ids:
            raise CorruptDatasetError(f"{self._where}: names more sealed nodes than it seals")


def locate_in(entries: Sequence[Entry], position: int) -> tuple[int, int]:
    """``(k, offset)``: entry ``k`` of ``entries`` holds physical ``position``, at
    ``offset`` within it."""
    firsts, first = [], 0
    for entry in entries:
        firsts.append(first)
        first += entry.count
    k = bisect.bisect_right(firsts, position) - 1
    return k, position - firsts[k]


def check_layout(layout: Layout, fanout: int, where: str) -> None:
    """Structural rules of format_spec/log.md §3 a reader relies on."""
    for level, entries in enumerate(layout.spine):
        for entry in entries:
            wanted = SegmentEntry if level == 0 else NodePointer
            if not isinstance(entry, wanted):
                raise CorruptDatasetError(f"{where}: spine level {level} holds a wrong entry")
            if entry.count <= 0:
                raise CorruptDatasetError(f"{where}: an entry with no samples")
    deleted = layout.deleted
    if any(b <= a for a, b in itertools.pairwise(deleted)):
        raise CorruptDatasetError(f"{where}: the deletion vector is not sorted and unique")
    if deleted and (deleted[0] < 0 or deleted[-1] >= layout.physical):
        raise CorruptDatasetError(f"{where}: the deletion vector points past the samples")
    if fanout < 2:
        raise CorruptDatasetError(f"{where}: fanout must be at least 2")
