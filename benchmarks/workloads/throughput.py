"""Append and export throughput, each against what the same work costs without hubcli:
append vs copying the file plus one PyAV demux pass; export vs a PyAV decode of the
same frames (both at FFmpeg's automatic thread count)."""

from __future__ import annotations

import shutil
import statistics
import time
from typing import TYPE_CHECKING

import av

import hubcli
from benchmarks import hubcli_peer
from benchmarks.results import AppendResult, ExportResult
from benchmarks.videos import CACHE
from hubcli.core.export import export_sample
from hubcli.core.sample import SampleView

if TYPE_CHECKING:
    from pathlib import Path

    from benchmarks.prepare import Bench, Prepared
    from benchmarks.videos import BenchVideo

TMP = CACHE / "tmp"
#: Export: the whole 360p clip and the first 600 frames of the 720p one.
EXPORTED = {"h264_360p": None, "h264_720p": 600}


def run_append(bench: Bench) -> dict[str, AppendResult]:
    TMP.mkdir(parents=True, exist_ok=True)
    out = {}
    for prepared in bench.videos:
        video = prepared.video
        reps = [_append_once(video) for _ in range(bench.cfg.settings.append_reps)]
        hub = statistics.median(r[0] for r in reps)
        base = statistics.median(r[1] for r in reps)
        size = video.path.stat().st_size
        out[video.name] = AppendResult(
            size, hub, base, size / hub / 1e6, size / base / 1e6, hub / base
        )
        rates = f"hubcli {size / hub / 1e6:.0f} MB/s, copy+demux {size / base / 1e6:.0f}"
        bench.log(f"append {video.name:11} {rates}")
    shutil.rmtree(TMP / "append", ignore_errors=True)
    (TMP / "copy").unlink(missing_ok=True)
    return out


def _append_once(video: BenchVideo) -> tuple[float, float]:
    """(seconds to append ``video`` to a new dataset, seconds to copy it and demux it)."""
    ds = hubcli.empty(TMP / "append", overwrite=True)
    ds.create_tensor("videos", htype="video", sample_compression=video.container)
    t0 = time.perf_counter()
    ds.videos.append(str(video.path))
    hub = time.perf_counter() - t0
    t0 = time.perf_counter()
    shutil.copyfile(video.path, TMP / "copy")
    with av.open(str(video.path)) as c:
        stream = c.streams.video[0]
        for packet in c.demux(stream):
            _ = packet.pts, packet.dts, packet.size, packet.is_keyframe
    return hub, time.perf_counter() - t0


def run_export(bench: Bench) -> dict[str, ExportResult]:
    TMP.mkdir(parents=True, exist_ok=True)
    out = {}
    for prepared in bench.videos:
        if prepared.video.name not in EXPORTED:
            continue
        video, limit = prepared.video, EXPORTED[prepared.video.name]
        count = min(prepared.oracle.frames, limit or prepared.oracle.frames)
        hub = _export_seconds(prepared, count, TMP / "export.npy")
        base = _decode_seconds(video.path, count)
        out[video.name] = ExportResult(
            frames=count,
            hubcli_fps=count / hub,
            pyav_decode_fps=count / base,
            ratio=base / hub,
            hubcli_mb_s=count * video.width * video.height * 3 / hub / 1e6,
        )
        rates = f"hubcli {count / hub:.0f} fps, PyAV {count / base:.0f}"
        bench.log(f"export {video.name:11} {count} frames: {rates}")
    return out


def _export_seconds(prepared: Prepared, count: int, target: Path) -> float:
    hubcli_peer.set_hubcli_threads(0)
    ds = hubcli.load(prepared.dataset, read_only=True)
    view = ds.videos[0, 0:count]
    assert isinstance(view, SampleView)  # one sample's frames, not several samples
    t0 = time.perf_counter()
    export_sample(view, target)
    seconds = time.perf_counter() - t0
    target.unlink()
    return seconds


def _decode_seconds(path: Path, count: int) -> float:
    t0 = time.perf_counter()
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        for k, frame in enumerate(c.decode(stream)):
            frame.to_ndarray(format="rgb24")
            if k + 1 >= count:
                break
    return time.perf_counter() - t0
