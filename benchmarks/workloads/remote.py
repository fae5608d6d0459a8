"""W7: W1, W3 and W4 from a moto S3 server behind the counting proxy: requests and
bytes, opening and per read. hubcli reads its dataset (s3://); TorchCodec and PyAV
(Hub's seek reader) read the same mp4 over HTTP (FFmpeg's http protocol)."""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from benchmarks import hubcli_peer
from benchmarks.oracle import lower_bound
from benchmarks.peers_venv import call_frames
from benchmarks.results import (
    Failed,
    Peer,
    RemoteCell,
    RemoteFile,
    RemoteRead,
    RemoteReader,
    Traffic,
    Workload,
)
from benchmarks.videos import SEED, VIDEOS
from benchmarks.workloads.local import Plan, plans
from testkit.env import patched_env, s3_env
from testkit.proxy import Proxy
from testkit.s3 import MotoS3

if TYPE_CHECKING:
    from collections.abc import Iterator

    from benchmarks.prepare import Bench, Prepared
    from testkit.proxy import Exchange

WORKLOADS = (Workload.W1, Workload.W3, Workload.W4)
#: The readers of W7, in the report's order.
READERS = (Peer.HUBCLI, Peer.TC_APPROX, Peer.TC_EXACT, Peer.PYAV_SEEK)
BUCKET = "bench"


@dataclass
class Source:
    """What a reader opens, and the object whose GETs are its video's."""

    url: str
    part: str  # a substring of the video object's path
    size: int


def run(bench: Bench) -> dict[str, RemoteFile]:
    """W7 on the H.264 mp4 videos (what every reader can read over HTTP)."""
    server = MotoS3()
    proxy = Proxy(server.url)
    try:
        with patched_env(s3_env(proxy.url, "bench", "bench")):
            import s3fs

            fs = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
            fs.mkdir(BUCKET)
            return {
                p.video.name: _file(bench, p, fs, proxy)
                for p in bench.videos
                if p.video.container == "mp4" and p.video.codec == "libx264"
            }
    finally:
        proxy.stop()
        server.stop()


def _file(bench: Bench, prepared: Prepared, fs: Any, proxy: Proxy) -> RemoteFile:
    video = prepared.video
    data = video.path.read_bytes()
    url = f"s3://{BUCKET}/ds-{video.name}"
    ds = hubcli_peer.dataset_of(url, video.path, video.container)
    raw_key = f"raw/{video.name}.{video.container}"
    fs.pipe_file(f"{BUCKET}/{raw_key}", data, ACL="public-read")
    http_url = f"{proxy.url}/{BUCKET}/{raw_key}"
    # hubcli's video object is its chunk; the others read the mp4 itself.
    sources = {p: Source(http_url, raw_key, len(data)) for p in READERS}
    sources[Peer.HUBCLI] = Source(url, hubcli_peer.chunk_key(ds), len(data))
    proxy.take()
    n = prepared.oracle.frames
    plan = plans(n, bench.cfg.settings.w7_runs, 1, SEED + 100 + VIDEOS.index(video))
    result = RemoteFile(len(data))
    for workload in WORKLOADS:
        result.workloads[workload] = _cell(bench, prepared, plan[workload], sources, proxy)
        _log_cell(bench, video.name, workload, result.workloads[workload])
    return result


def _cell(
    bench: Bench, prepared: Prepared, plan: Plan, sources: dict[Peer, Source], proxy: Proxy
) -> RemoteCell:
    bounds = [lower_bound(prepared.table, prepared.costs, run[0]) for run in plan.runs]
    cell = RemoteCell([b.bytes for b in bounds], [b.runs for b in bounds])
    for peer, source in sources.items():
        cell.peers[peer] = _reader(bench, prepared, plan, peer, source, proxy)
    return cell


def _reader(
    bench: Bench, prepared: Prepared, plan: Plan, peer: Peer, source: Source, proxy: Proxy
) -> RemoteReader | Failed:
    """Open the source (hubcli: load + shape), then each read, each counted alone."""
    opened = bench.runner(
        {
            "op": "open",
            "peer": peer.value,
            "threads": 1,
            "source": source.url,
            "info": peer == Peer.HUBCLI,
        }
    )
    if "error" in opened:
        proxy.take()
        return Failed(opened["error"])
    reader = RemoteReader(opened["ms"], traffic(proxy.take(), source), [])
    for run in plan.runs:
        reply = bench.runner({"op": "read", "handle": opened["handle"], "call": run[0]})
        counted = traffic(proxy.take(), source)
        if "error" in reply:
            reader.error = reply["error"]
            break
        want = [prepared.oracle.hashes[k] for k in call_frames(run[0])]
        exact = sum(a == b for a, b in zip(reply["read_hashes"], want, strict=False))
        reader.reads.append(
            RemoteRead(**vars(counted), ms=reply["ms"], exact=exact, frames=len(want))
        )
    bench.runner({"op": "close", "handle": opened["handle"]})
    proxy.take()
    return reader


def _asks_whole(header: str | None, size: int) -> bool:
    """Whether a GET's Range header (None: no Range) asks for the whole object."""
    m = re.fullmatch(r"bytes=(\d*)-(\d*)", header or "")
    if m is None:
        return True
    first, last = m.groups()
    if not first:
        return int(last or 0) >= size
    end = int(last) + 1 if last else size
    return end - int(first) >= size


def traffic(taken: list[Exchange], source: Source) -> Traffic:
    """Requests and bytes of one phase; "video" = those of the source's video object."""
    gets = [e for e in taken if e.method == "GET"]
    video = [e for e in gets if source.part in e.path]
    return Traffic(
        requests=len(taken),
        gets=len(gets),
        bytes=sum(e.sent for e in taken),
        video_gets=len(video),
        video_bytes=sum(e.sent for e in taken if source.part in e.path),
        whole_object=any(_asks_whole(e.range, source.size) for e in video),
        ranges=[e.range for e in video][:50],
    )


def _log_cell(bench: Bench, name: str, workload: Workload, cell: RemoteCell) -> None:
    for peer, entry in cell.peers.items():
        for line in _said(entry, cell):
            bench.log(f"{name:11} W7 {workload} {peer:17} {line}")


def _said(entry: RemoteReader | Failed, cell: RemoteCell) -> Iterator[str]:
    if isinstance(entry, Failed):
        yield f"ERROR {entry.error}"
    elif entry.reads:
        first = entry.reads[0]
        yield (
            f"open {entry.open.gets} GETs {entry.open.bytes / 1e6:.2f} MB; first read "
            f"{first.gets} GETs {first.bytes / 1e6:.2f} MB {first.ms:.0f} ms "
            f"(LB {cell.lower_bound_bytes[0] / 1e6:.2f} MB, {cell.runs[0]} runs, "
            f"median {statistics.median(r.ms for r in entry.reads):.0f} ms)"
        )
