"""Planning reads for Ray from the stored frame tables alone (no video bytes, no Ray):
what each read task decodes, and how tasks are balanced.

A *unit* is the smallest piece of work: one sample's keyframe run (the packets one
fresh decoder goes through, format_spec/reading.md §2) and the rows it yields. Units
are never split: two tasks sharing a run would each decode it. Units are packed into
tasks by cost, the packets decoded plus the bytes read (each as a share of the whole
read, so neither unit of measure dominates), keeping each task's units contiguous in
sample order: a task reads one stretch of each file, and rows come out in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hubcli.video.plan import plan_runs

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hubcli.format.frames import FrameTable
    from hubcli.sampling import Clip


@dataclass(frozen=True)
class Unit:
    """One sample's work that no task may split: the keyframe runs ``runs`` (packet
    ranges ``[start, stop)`` in decode order), what they cost (``packets`` decoded,
    ``nbytes`` read) and what they yield: ``frames`` (frame numbers, request order: one
    row each) for frame reads, or ``clips`` (one row each) for clip reads."""

    sample: int
    runs: tuple[tuple[int, int], ...]
    packets: int
    nbytes: int
    frames: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    clips: tuple[Clip, ...] = ()

    @property
    def rows(self) -> int:
        return len(self.clips) if self.clips else len(self.frames)


def frame_units(sample: int, table: FrameTable, frames: np.ndarray) -> list[Unit]:
    """The units of reading ``frames`` (frame numbers, request order, repeats allowed)
    of one sample: one per keyframe run, with the requested frames that run yields, in
    request order."""
    frames = np.asarray(frames, dtype=np.int64)
    runs = plan_runs(table, frames)
    if not runs:
        return []
    owner = _run_of(runs, table.frame_packet[frames].astype(np.int64))
    return [
        _unit(sample, table, [(run.start, run.stop)], frames=frames[owner == n])
        for n, run in enumerate(runs)
    ]


def clip_units(sample: int, table: FrameTable, clips: Sequence[Clip]) -> list[Unit]:
    """The units of reading ``clips`` (all of one sample): clips that share a keyframe
    run are one unit, so the run is decoded once for all of them (as
    ``hubcli.sampling.read_clips`` does within one call)."""
    if not clips:
        return []
    runs = plan_runs(table, np.concatenate([c.frames for c in clips]))
    parent = list(range(len(runs)))  # union-find over runs: a clip joins its runs

    def root(n: int) -> int:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    owners = [
        np.unique(_run_of(runs, table.frame_packet[c.frames].astype(np.int64))) for c in clips
    ]
    for owned in owners:
        for n in owned[1:]:
            parent[root(int(n))] = root(int(owned[0]))
    groups: dict[int, tuple[list[int], list[Clip]]] = {}
    for clip, owned in zip(clips, owners, strict=True):
        groups.setdefault(root(int(owned[0])), ([], []))[1].append(clip)
    for n in range(len(runs)):
        groups[root(n)][0].append(n)
    units = [
        _unit(sample, table, [(runs[n].start, runs[n].stop) for n in members], clips=tuple(group))
        for members, group in groups.values()
    ]
    return sorted(units, key=lambda u: u.runs[0][0])


def _run_of(runs: Sequence[Any], packets: np.ndarray) -> np.ndarray:
    """Which run decodes each packet: runs are disjoint packet ranges, sorted."""
    starts = np.array([run.start for run in runs], dtype=np.int64)
    found: np.ndarray = np.searchsorted(starts, packets, side="right") - 1
    return found


def _unit(
    sample: int,
    table: FrameTable,
    runs: list[tuple[int, int]],
    frames: np.ndarray | None = None,
    clips: tuple[Clip, ...] = (),
) -> Unit:
    packets = sum(stop - start for start, stop in runs)
    nbytes = sum(int(table.size[start:stop].sum()) for start, stop in runs)
    return Unit(
        sample,
        tuple(runs),
        packets,
        nbytes,
        frames=np.zeros(0, np.int64) if frames is None else frames,
        clips=clips,
    )


def costs(units: Sequence[Unit]) -> np.ndarray:
    """Each unit's cost: its share of all packets decoded plus its share of all bytes
    read (decoding dominates on a local disk, bytes over a network; both count)."""
    packets = np.array([u.packets for u in units], dtype=np.float64)
    nbytes = np.array([u.nbytes for u in units], dtype=np.float64)
    cost = np.zeros(len(units), dtype=np.float64)
    for part in (packets, nbytes):
        if part.sum() > 0:
            cost += part / part.sum()
    return cost


def pack(cost: np.ndarray, tasks: int) -> list[list[int]]:
    """Split units (in order) into at most ``tasks`` contiguous groups of about equal
    cost: a unit goes to the group its cost's midpoint falls in, so no group is off
    its share by more than one unit. Empty groups are dropped."""
    if len(cost) == 0:
        return []
    tasks = max(1, min(int(tasks), len(cost)))
    total = float(cost.sum())
    if total <= 0:
        cost, total = np.ones(len(cost)), float(len(cost))
    middle = np.cumsum(cost) - cost / 2
    group = np.minimum((middle / total * tasks).astype(np.int64), tasks - 1)
    bounds = np.flatnonzero(np.diff(group)) + 1
    return [part.tolist() for part in np.split(np.arange(len(cost)), bounds)]
