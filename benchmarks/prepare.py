"""Before the workloads: each video encoded (or found), decoded by the oracle, its
decode cost measured, and stored in its own local hubcli dataset."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from benchmarks import hubcli_peer
from benchmarks.oracle import Oracle, decode_costs, oracle
from benchmarks.videos import CACHE, ensure_video

if TYPE_CHECKING:
    from pathlib import Path

    from benchmarks.config import Config
    from benchmarks.log import Log
    from benchmarks.results import Costs, ThreadCheck
    from benchmarks.runner import Runner
    from benchmarks.videos import BenchVideo
    from hubcli.format.frames import FrameTable


@dataclass
class Prepared:
    """One video, ready for the workloads."""

    video: BenchVideo
    oracle: Oracle
    oracle_frames: Path  # the .npy of the oracle's frames around the probes
    costs: Costs
    dataset: str  # the local dataset holding it, for hubcli
    table: FrameTable  # hubcli's frame table of it (the lower bounds' run plans)
    threads_checked: dict[int, ThreadCheck]


@dataclass
class Bench:
    """What every workload gets: the settings, the runner, the log and the videos."""

    cfg: Config
    runner: Runner
    log: Log
    videos: list[Prepared]


def prepare(video: BenchVideo, cost_passes: int, log: Log) -> Prepared:
    ensure_video(video, log)
    orc = oracle(video, log)
    costs = decode_costs(video.path, cost_passes)
    ds_path = CACHE / "datasets" / video.name
    ds = hubcli_peer.dataset_of(ds_path, video.path, video.container)
    table = hubcli_peer.frame_table(ds)
    if table.frame_count != orc.frames:
        log(f"{video.name}: hubcli has {table.frame_count} frames, the oracle {orc.frames}")
    checked = {}
    for threads in (1, 2, 0):
        hubcli_peer.set_hubcli_threads(threads)
        checked[threads] = hubcli_peer.threads_in_effect(ds)
    hubcli_peer.set_hubcli_threads(0)
    log(
        f"{video.name}: {orc.frames} frames, {len(orc.keyframes)} keyframes, "
        f"decode {costs.decode_ms_per_packet:.2f} ms/packet, "
        f"RGB {costs.rgb_ms_per_frame:.2f} ms/frame"
    )
    return Prepared(video, orc, Oracle.paths(video)[1], costs, str(ds_path), table, checked)
