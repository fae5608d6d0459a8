"""W0-W6: local reads. Every peer of a cell gets the same calls (fixed seeds) on the
same video, back to back, so that they run under the same conditions."""

from __future__ import annotations

import gc
import os
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from benchmarks.oracle import Bound, lower_bound
from benchmarks.peers import HASH_FIRST_ONLY, SETTINGS, peers_for, runs_rule
from benchmarks.peers_venv import Call, Request, call_frames
from benchmarks.results import (
    CellKey,
    Failed,
    LocalCell,
    LocalFile,
    Peer,
    Setting,
    Timing,
    Workload,
)
from benchmarks.videos import SEED, VIDEOS

if TYPE_CHECKING:
    from benchmarks.peers_venv import Reply
    from benchmarks.prepare import Bench, Prepared


@dataclass
class Plan:
    """The calls of one workload: runs, each a list of calls timed together, and one
    untimed warm-up call."""

    runs: list[list[Call]]
    warmup: Call | None = None


def plans(n: int, runs: int, runs_whole: int, seed: int) -> dict[Workload, Plan]:
    """The calls of each workload for a video of ``n`` frames: the same for every peer.
    The warm-up is one random frame: it opens what a first read opens (decoder, index)
    without costing a whole run. (The order of the draws fixes the frames: keep it.)"""
    rng = np.random.default_rng(seed)

    def one() -> list[Call]:
        return [{"frames": [int(rng.integers(n))]}]

    def ten() -> list[Call]:
        return [{"frames": [int(k) for k in rng.choice(n, 10, replace=False)]}]

    def strided() -> list[Call]:
        a = int(rng.integers(0, n - 100))
        return [{"slice": [a, a + 100, 5]}]

    spaced: list[Call] = [{"frames": [int(k) for k in np.linspace(0, n - 1, 32).round()]}]
    out = {Workload.W0: Plan([[] for _ in range(runs)])}
    for workload, make in ((Workload.W1, one), (Workload.W2, ten), (Workload.W3, strided)):
        warmup = one()[0]
        out[workload] = Plan([make() for _ in range(runs)], warmup)
    out[Workload.W4] = Plan([spaced] * runs, one()[0])
    out[Workload.W5A] = Plan([[{"slice": [0, 100, 1]}]] * runs, one()[0])
    out[Workload.W5B] = Plan([[{"slice": [0, n, 1]}]] * runs_whole, one()[0])
    return out


def selected(chosen: frozenset[str], setting: Setting, workload: Workload) -> bool:
    """Whether a run that chose ``chosen`` reads this cell ("W6" = the t2 cells)."""
    return "W6" in chosen if setting == Setting.T2 else workload.value in chosen


def run(bench: Bench) -> dict[str, LocalFile]:
    """W0-W6 on every video."""
    out: dict[str, LocalFile] = {}
    for prepared in bench.videos:
        video = prepared.video
        plan = plans(
            prepared.oracle.frames,
            bench.cfg.settings.runs,
            bench.cfg.settings.runs_whole,
            SEED + VIDEOS.index(video),
        )
        cells = LocalFile()
        for setting in SETTINGS:
            for workload in Workload:
                peers = peers_for(setting, workload, bench.cfg.quick, video.name)
                if peers and selected(bench.cfg.workloads, setting, workload):
                    key = CellKey(setting, workload)
                    cells.cells[key] = _cell(bench, prepared, key, plan[workload], peers)
        out[video.name] = cells
    return out


def _cell(
    bench: Bench, prepared: Prepared, key: CellKey, plan: Plan, peers: tuple[Peer, ...]
) -> LocalCell:
    bounds = [
        lower_bound(prepared.table, prepared.costs, call) for r in plan.runs for call in r[:1]
    ]
    cell = LocalCell([b.ms for b in bounds], [b.packets for b in bounds])
    for peer in peers:
        req = _request(bench, prepared, key, plan, peer)
        reply = bench.runner(req)
        gc.collect()
        if req.get("prefault_bytes", 0) > 256 << 20:
            bench.runner.trim(peer)
        load = round(os.getloadavg()[0], 2)
        entry = summarize(reply, plan.runs, prepared.oracle.hashes, bounds, load)
        cell.peers[peer] = entry
        bench.log(
            f"{prepared.video.name:11} {key.setting:4} {key.workload:3} {peer:17} {_said(entry)}"
        )
    return cell


def _request(bench: Bench, prepared: Prepared, key: CellKey, plan: Plan, peer: Peer) -> Request:
    m, rule = bench.cfg.settings, runs_rule(peer, key.workload)
    least = {"runs": m.runs, "runs_whole": m.runs_whole, "one": 1, "few": m.few_runs}
    video = prepared.video
    req: Request = {
        "op": "open_info" if key.workload == Workload.W0 else "frames",
        "peer": peer.value,
        "threads": SETTINGS[key.setting],
        "source": prepared.dataset if peer == Peer.HUBCLI else str(video.path),
        "runs": plan.runs,
        "warmup": plan.warmup,
        "min_runs": least[rule.runs],
        "max_seconds": m.max_seconds if rule.budget else 1e9,
        "hash_first_only": key.workload in HASH_FIRST_ONLY,
    }
    if key.workload != Workload.W0:  # fault in the memory of the largest output first
        most = max(sum(len(call_frames(c)) for c in run) for run in plan.runs)
        req["prefault_bytes"] = int(most * video.width * video.height * 3 * 1.1)
    return req


def _said(entry: Timing | Failed) -> str:
    if isinstance(entry, Failed) or entry.median_ms is None:
        return f"ERROR {getattr(entry, 'error', 'no runs')}"
    return f"median {entry.median_ms:9.1f} ms ({len(entry.times_ms)} runs)"


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarize(
    reply: Reply, runs: list[list[Call]], hashes: list[str], bounds: list[Bound], load: float
) -> Timing | Failed:
    """A reader's reply on a cell, its frames checked against the oracle's hashes."""
    if "error" in reply:
        return Failed(reply["error"], load)
    times, cpu = reply["times_ms"], reply.get("cpu_ms", [])
    timing = Timing(
        times_ms=[round(t, 3) for t in times],
        cpu_ms=[round(t, 3) for t in cpu],
        median_ms=median(times),
        median_cpu_ms=median(cpu),
        info=reply.get("info"),
        load_average=load,
    )
    if reply.get("hashes"):
        timing.exact_frames, timing.checked_frames = check_hashes(reply["hashes"], runs, hashes)
    if bounds and times:
        ratios = [t / b.ms for t, b in zip(times, bounds, strict=False) if b.ms > 0]
        timing.ratio_lower_bound = median(ratios)
    return timing


def check_hashes(
    got: list[list[list[str]]], runs: list[list[Call]], hashes: list[str]
) -> tuple[int, int]:
    """(frames equal to the oracle's, frames checked) over a reader's timed runs; a
    reader that returned too few or too many frames is charged the difference too."""
    good = total = 0
    for run, run_hashes in zip(runs, got, strict=False):
        for call, call_hashes in zip(run, run_hashes, strict=True):
            want = [hashes[k] for k in call_frames(call)]
            total += len(want) + abs(len(call_hashes) - len(want))
            good += sum(a == b for a, b in zip(call_hashes, want, strict=False))
    return good, total
