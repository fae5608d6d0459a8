"""The benchmark's videos: a table of them, encoded once (``testkit.videos``) and kept
under ``bench-cache/`` by their parameters."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from testkit.videos import VideoSpec, make_video

if TYPE_CHECKING:
    from benchmarks.log import Log

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench-cache"
GEN_VERSION = 1  # bump when the synthetic content changes
FPS = 30
SEED = 20240611

CODEC_NAMES = {"libx264": "H.264", "libx265": "HEVC", "libvpx-vp9": "VP9"}


@dataclass(frozen=True)
class BenchVideo:
    """One benchmark video: the parameters the report lists (``meta.videos``)."""

    name: str
    container: str
    codec: str
    width: int
    height: int
    seconds: int
    gop: int
    bframes: int
    kbps: int

    @property
    def frames(self) -> int:
        return self.seconds * FPS

    @property
    def key(self) -> str:
        return (
            f"{self.name}_{self.codec}_{self.width}x{self.height}_{self.seconds}s_{FPS}fps"
            f"_g{self.gop}_b{self.bframes}_{self.kbps}k_v{GEN_VERSION}"
        )

    @property
    def path(self) -> Path:
        return CACHE / "videos" / f"{self.key}.{self.container}"

    def describe(self) -> str:
        b = f", {self.bframes} B-frames" if self.bframes else ""
        return (
            f"{CODEC_NAMES[self.codec]} {self.width}x{self.height} {self.seconds} s {FPS} fps, "
            f"GOP {self.gop}{b}, {self.kbps} kb/s, .{self.container}"
        )

    def spec(self) -> VideoSpec:
        """How ``testkit.videos`` encodes it: the texture content, constant bit rate."""
        return VideoSpec(
            self.name,
            self.container,
            self.codec,
            frames=self.frames,
            width=self.width,
            height=self.height,
            rate=FPS,
            gop=self.gop,
            options=_encoder_options(self),
            content="texture",
            seed=SEED,
            bit_rate=self.kbps * 1000 if self.codec == "libvpx-vp9" else None,
        )


def _encoder_options(video: BenchVideo) -> tuple[tuple[str, str], ...]:
    """Fixed GOPs (no scene cuts) at a capped bit rate; VP9 takes its rate from the
    codec context."""
    k, g, b = video.kbps, video.gop, video.bframes
    if video.codec == "libx264":
        params = f"keyint={g}:min-keyint={g}:scenecut=0:bframes={b}"
        rate = f"bitrate={k}:vbv-maxrate={k}:vbv-bufsize={k}"
        return (("preset", "veryfast"), ("x264-params", f"{params}:{rate}"))
    if video.codec == "libx265":
        params = f"log-level=error:keyint={g}:min-keyint={g}:scenecut=0:bframes={b}"
        return (("preset", "ultrafast"), ("x265-params", f"{params}:bitrate={k}"))
    return (("deadline", "realtime"), ("cpu-used", "8"), ("row-mt", "1"))


VIDEOS = (
    BenchVideo("h264_720p", "mp4", "libx264", 1280, 720, 60, 250, 3, 4000),
    BenchVideo("h264_360p", "mp4", "libx264", 640, 360, 60, 30, 3, 1000),
    BenchVideo("h264_1080p", "mp4", "libx264", 1920, 1080, 30, 300, 3, 8000),
    BenchVideo("hevc_720p", "mp4", "libx265", 1280, 720, 20, 120, 4, 2500),
    BenchVideo("vp9_720p", "webm", "libvpx-vp9", 1280, 720, 20, 120, 0, 2500),
)
#: The training loop's (W9) video.
LOOP_VIDEO = "h264_360p"


def video_named(name: str) -> BenchVideo:
    return next(v for v in VIDEOS if v.name == name)


def ensure_video(video: BenchVideo, log: Log) -> Path:
    """Encode ``video`` once: the file is kept under bench-cache/ by its parameters (a
    partial file is renamed only when complete, so a killed run leaves no bad video)."""
    path = video.path
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".partial" + path.suffix)
    t0 = time.perf_counter()
    log(f"encoding {video.describe()} -> {path.name}")
    make_video(video.spec(), partial)
    partial.rename(path)
    log(f"  {path.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - t0:.0f} s")
    return path
