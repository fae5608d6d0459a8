"""Which packets to decode for a set of frames (format_spec/reading.md §2). Pure numpy.

Frame ``k``'s decode starts at the last keyframe, in decode order, that is at or
before frame ``k``'s packet and whose pts is at or before frame ``k``'s pts. The pts
condition matters for open GOPs: a leading picture sits after its keyframe in decode
order but is shown before it, and needs the previous keyframe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hubcli.format.frames import FrameTable


@dataclass(frozen=True, slots=True)
class Run:
    """Decode packets ``start..stop-1`` (decode order) from a fresh decoder; keep the
    pictures of ``wanted`` (packet indices) as they come out."""

    start: int
    stop: int
    wanted: frozenset[int]


def start_packets(table: FrameTable, frames: np.ndarray) -> np.ndarray:
    """For each frame number in ``frames``, the packet its decode must start from."""
    keys = np.flatnonzero(table.keyframe)
    packets = table.frame_packet[frames].astype(np.int64)
    pts = table.pts[packets]
    # Last keyframe at or before each frame's packet in decode order...
    j = np.searchsorted(keys, packets, side="right") - 1
    starts = np.zeros(len(frames), dtype=np.int64)
    for n in range(len(frames)):
        i = int(j[n])
        # ...stepping back past keyframes shown after the frame (open-GOP leading pictures).
        while i >= 0 and table.pts[keys[i]] > pts[n]:
            i -= 1
        starts[n] = keys[i] if i >= 0 else 0  # no usable keyframe: decode from the start
    return starts


def plan_runs(table: FrameTable, frames: np.ndarray) -> list[Run]:
    """Runs covering ``frames`` (any order, repeats allowed), each packet decoded at most
    once: overlapping or touching runs are merged into one."""
    unique = np.unique(np.asarray(frames, dtype=np.int64))
    if unique.size == 0:
        return []
    starts = start_packets(table, unique)
    packets = table.frame_packet[unique].astype(np.int64)
    order = np.argsort(starts, kind="stable")
    runs: list[Run] = []
    start, stop, wanted = int(starts[order[0]]), -1, set[int]()
    for n in order:
        s, p = int(starts[n]), int(packets[n])
        if s > stop >= 0:  # a gap after the current run: close it, start another
            runs.append(Run(start, stop, frozenset(wanted)))
            start, wanted = s, set()
        # Otherwise the frame's start overlaps or touches the run: decoding on from
        # the run's end is the same as a full decode, so extend the run.
        stop = max(stop, p + 1)
        wanted.add(p)
    runs.append(Run(start, stop, frozenset(wanted)))
    return runs
