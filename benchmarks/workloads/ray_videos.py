"""W11's videos: twenty 60 s 360p H.264 files for the frame reads, and two hundred small
clips for the ingest, encoded once (``testkit.videos``) and kept under
``bench-cache/ray-videos/`` by their parameters (a partial file is renamed only when
complete, so a killed run leaves no bad video)."""

from __future__ import annotations

import dataclasses
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING

from benchmarks.videos import CACHE, SEED, BenchVideo
from testkit.videos import VideoSpec, make_video

if TYPE_CHECKING:
    from pathlib import Path

#: The read workload's video: 640x360, 60 s at 30 fps, a 2 s GOP (the usual keyframe
#: interval of streamed and uploaded video) with 3 B-frames, 1 Mb/s. Every 30th frame
#: is then a keyframe or the middle of a GOP: half the wanted frames need 30 packets.
READ_VIDEO = BenchVideo("ray_360p", "mp4", "libx264", 640, 360, 60, 60, 3, 1000)
READ_COUNT = 20
#: The ingest's clips: 320x180, 10 s at 30 fps, GOP 30, 400 kb/s (about 500 KB each):
#: small, yet each is more work (~50 ms) than a worker process takes to start.
INGEST_VIDEO = BenchVideo("ray_clip", "mp4", "libx264", 320, 180, 10, 30, 3, 400)
INGEST_COUNT = 200
FOLDER = CACHE / "ray-videos"


def _path(video: BenchVideo, k: int) -> Path:
    return FOLDER / video.key / f"{video.name}_{k:03d}.{video.container}"


def _spec(video: BenchVideo, k: int) -> VideoSpec:
    """``video``'s encoding, with content of its own (a seed per file)."""
    return dataclasses.replace(video.spec(), name=f"{video.name}_{k:03d}", seed=SEED + 1 + k)


def _encode(video: BenchVideo, k: int) -> None:
    path = _path(video, k)
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".partial" + path.suffix)
    make_video(_spec(video, k), partial)
    partial.rename(path)


def ensure(video: BenchVideo, count: int, jobs: int = 2) -> list[Path]:
    """``count`` files of ``video``, each encoded once (in ``jobs`` processes)."""
    missing = [k for k in range(count) if not _path(video, k).exists()]
    if missing:
        with ProcessPoolExecutor(jobs) as pool:
            list(pool.map(_encode, [video] * len(missing), missing))
    return [_path(video, k) for k in range(count)]


if __name__ == "__main__":  # encode them ahead of a run: python -m benchmarks.workloads.ray_videos
    ensure(READ_VIDEO, READ_COUNT)
    ensure(INGEST_VIDEO, INGEST_COUNT)
    sys.stdout.write(f"videos in {FOLDER}\n")
