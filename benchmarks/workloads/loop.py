"""W9: a training loop. 2 spawned worker processes, each with its own reader and 1
decoder thread, read random 16-frame clips of random samples of a dataset (the 360p
clip appended 8 times); RSS is sampled during the loop."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from benchmarks import hubcli_peer
from benchmarks.peers import VENV_PEERS
from benchmarks.results import Failed, LoopPeer, LoopResult, Peer
from benchmarks.videos import CACHE, SEED, video_named

if TYPE_CHECKING:
    from benchmarks.peers_venv import Request
    from benchmarks.prepare import Bench

SAMPLES = 8
CLIP = 16
WORKERS = 2
#: Warm-up: the first 10 % of a worker's reads.
WARM_SHARE = 10


def run(bench: Bench, video_name: str) -> LoopResult:
    video = video_named(video_name)
    ds_path = CACHE / "datasets" / "w9"
    hubcli_peer.dataset_of(ds_path, video.path, video.container, copies=SAMPLES)
    result = LoopResult(video.name, SAMPLES, CLIP)
    m = bench.cfg.settings
    jobs = [(Peer.HUBCLI, [f"{ds_path}#{i}" for i in range(SAMPLES)], m.w9_reads)]
    jobs += [(p, [str(video.path)] * SAMPLES, m.w9_peer_reads) for p in VENV_PEERS]
    for peer, sources, reads in jobs:
        t0 = time.perf_counter()
        reply = bench.runner(_request(peer, sources, reads))
        if "error" in reply:
            result.peers[peer] = Failed(reply["error"])
            bench.log(f"W9 {peer:17} ERROR {reply['error']}")
            continue
        entry = summarize(reply["workers"], time.perf_counter() - t0)
        result.peers[peer] = entry
        growth = ", ".join(f"{g * 100:+.1f} %" for g in entry.rss_growth)
        bench.log(
            f"W9 {peer:17} {entry.reads} reads {entry.clips_per_s:.1f} clips/s, RSS growth {growth}"
        )
    return result


def _request(peer: Peer, sources: list[str], reads: int) -> Request:
    return {
        "op": "loop",
        "peer": peer.value,
        "threads": 1,
        "workers": WORKERS,
        "sources": sources,
        "reads": reads,
        "seed": SEED + 9,
        "clip": CLIP,
        "every": max(10, reads // 200),
    }


def summarize(workers: list[dict[str, Any]], wall_s: float) -> LoopPeer:
    """The workers' results: throughput, and RSS after the warm-up, at the end and its
    growth (largest RSS after the warm-up / RSS then - 1)."""
    total = sum(w["reads"] for w in workers)
    seconds = max(w["seconds"] for w in workers)
    growth, warm_mb = [], []
    for w in workers:
        rss = w["rss"]  # [reads so far, seconds, bytes] samples
        warm = next(x for x in rss if x[0] >= max(1, w["reads"] // WARM_SHARE))
        growth.append(max(x[2] for x in rss if x[0] >= warm[0]) / warm[2] - 1)
        warm_mb.append(warm[2] / 2**20)
    return LoopPeer(
        reads=total,
        clips_per_s=total / seconds,
        rss_warm_mb=warm_mb,
        rss_end_mb=[w["rss"][-1][2] / 2**20 for w in workers],
        rss_growth=growth,
        rss_series=[[[x[0], round(x[2] / 2**20, 1)] for x in w["rss"]] for w in workers],
        wall_s=wall_s,
    )
