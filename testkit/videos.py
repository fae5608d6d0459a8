"""Videos encoded with PyAV from a spec: the test corpus and the benchmark's videos.

Three kinds of content. ``pattern`` (the tests): frame ``k`` paints a pattern derived
from ``k``, so a wrong frame is visibly (and hash-wise) different from the right one.
``texture`` (the benchmark): moving gradients, a scrolling noise texture, grain that
changes every frame and moving boxes, so that the encoder has real work and the
decoder real cost. ``noise``: every frame random pixels (tiny clips that must differ).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Literal

import av
import numpy as np

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

# SVT-AV1 prints a banner to stderr unless told otherwise (1 = errors only).
os.environ.setdefault("SVT_LOG", "1")

Content = Literal["pattern", "texture", "noise"]


@dataclass(frozen=True)
class VideoSpec:
    """How to encode one video."""

    name: str
    container: str  # file extension, e.g. "mp4"
    codec: str
    frames: int = 60
    width: int = 96
    height: int = 64
    pix_fmt: str = "yuv420p"
    rate: int = 24
    options: tuple[tuple[str, str], ...] = ()
    gop: int = 12
    max_b_frames: int | None = None
    vfr: bool = False
    audio: bool = False
    pts_offset: int = 0  # first frame's pts, in 1/rate units; < 0 makes an MP4 edit list
    container_options: tuple[tuple[str, str], ...] = ()
    color: tuple[int, int, int, int] | None = None  # range, space, primaries, trc (FFmpeg enums)
    content: Content = "pattern"
    seed: int = 0  # of the texture and noise content
    bit_rate: int | None = None  # bits/s, for encoders that take it from the context (VP9)

    @property
    def filename(self) -> str:
        return f"{self.name}.{self.container}"


@functools.lru_cache(maxsize=4)
def _base(width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:height, 0:width]
    return (
        (x * 4 % 256).astype(np.uint8),
        (y * 4 % 256).astype(np.uint8),
        ((x + y) * 2 % 256).astype(np.uint8),
    )


def paint(k: int, width: int, height: int) -> np.ndarray:
    """An RGB frame whose content is a function of ``k`` (moving bars plus a counter block).

    uint8 arithmetic wraps modulo 256, which is the pattern's own modulus.
    """
    r, g, b = _base(width, height)
    img = np.empty((height, width, 3), dtype=np.uint8)
    np.add(r, np.uint8(k * 7 % 256), out=img[..., 0])
    np.add(g, np.uint8(k * 13 % 256), out=img[..., 1])
    np.add(b, np.uint8(k * 29 % 256), out=img[..., 2])
    # A block whose brightness encodes k coarsely, so neighbouring frames differ a lot.
    img[: height // 3, : width // 3, :] = (k * 37) % 256
    return img


def texture_frames(spec: VideoSpec) -> Iterator[np.ndarray]:
    """Frames that are not trivially compressible: moving gradients, a scrolling noise
    texture, grain that changes every frame, and a few moving boxes."""
    width, height = spec.width, spec.height
    rng = np.random.default_rng(spec.seed)
    margin = 256
    tex = rng.integers(0, 48, (height + margin, width + margin), dtype=np.int16)
    tex = (tex + np.roll(tex, 1, 0) + np.roll(tex, 1, 1) + np.roll(tex, (1, 1), (0, 1))) // 4
    grain = [rng.integers(-5, 6, (height, width), dtype=np.int16) for _ in range(7)]
    boxes = [
        (rng.uniform(0, width), rng.uniform(0, height), rng.uniform(-9, 9), rng.uniform(-6, 6))
        for _ in range(4)
    ]
    colors = rng.integers(0, 256, (len(boxes), 3))
    for t in range(spec.frames):
        dy, dx = (2 * t) % margin, (3 * t) % margin
        common = tex[dy : dy + height, dx : dx + width] + grain[t % len(grain)] + 90
        img = _gradients(common, t, spec)
        size = max(16, height // 8)
        for n, (bx, by, vx, vy) in enumerate(boxes):
            px = int(abs((bx + vx * t) % (2 * width) - width)) % max(1, width - size)
            py = int(abs((by + vy * t) % (2 * height) - height)) % max(1, height - size)
            img[py : py + size, px : px + size] = colors[n]
        yield img


def _gradients(common: np.ndarray, t: int, spec: VideoSpec) -> np.ndarray:
    """The texture's three colour planes: ``common`` plus a gradient moving with ``t``."""
    x = np.arange(spec.width, dtype=np.float32)
    y = np.arange(spec.height, dtype=np.float32)
    a = 2 * np.pi * t / spec.rate
    rx = (70 * np.sin(2 * np.pi * x / spec.width * 1.5 + a * 0.20)).astype(np.int16)
    gx = (50 * np.sin(2 * np.pi * x / spec.width * 0.7 - a * 0.11)).astype(np.int16)
    ry = (60 * np.sin(2 * np.pi * y / spec.height * 1.1 - a * 0.13)).astype(np.int16)
    by = (80 * np.sin(2 * np.pi * y / spec.height * 0.5 + a * 0.07)).astype(np.int16)
    img = np.empty((spec.height, spec.width, 3), dtype=np.uint8)
    planes = (rx[None, :] + ry[:, None] // 2, gx[None, :] + ry[:, None], by[:, None] + gx[None, :])
    for c, plane in enumerate(planes):
        np.clip(common + plane, 0, 255, out=plane)
        img[..., c] = plane
    return img


def frames_of(spec: VideoSpec) -> Iterator[np.ndarray]:
    """The RGB frames of ``spec``, in order."""
    if spec.content == "texture":
        yield from texture_frames(spec)
        return
    rng = np.random.default_rng(spec.seed)
    for k in range(spec.frames):
        if spec.content == "noise":
            yield rng.integers(0, 256, (spec.height, spec.width, 3), dtype=np.uint8)
        else:
            yield paint(k, spec.width, spec.height)


def make_video(spec: VideoSpec, path: Path) -> Path:
    """Encode ``spec`` to ``path`` with PyAV and return the path."""
    with av.open(str(path), "w", options=dict(spec.container_options)) as out:
        stream = out.add_stream(spec.codec, rate=spec.rate, options=dict(spec.options))
        assert isinstance(stream, av.VideoStream)  # a video codec's name gives a video stream
        _configure(stream, spec)
        audio = out.add_stream("aac", rate=16000) if spec.audio else None
        pts = 0
        for k, rgb in enumerate(frames_of(spec)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=spec.pix_fmt)
            if spec.vfr:
                frame.pts = pts
                frame.time_base = Fraction(1, 1000)
                pts += [20, 40, 33, 100, 17][k % 5]
            else:
                frame.pts = k + spec.pts_offset
            out.mux(stream.encode(frame))
            if audio is not None:
                mux_audio(out, audio, k, spec.rate)
        out.mux(stream.encode(None))
        if audio is not None:
            out.mux(audio.encode(None))
    return path


def _configure(stream: av.VideoStream, spec: VideoSpec) -> None:
    stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, spec.pix_fmt
    cc = stream.codec_context
    cc.gop_size = spec.gop
    if spec.bit_rate is not None:
        cc.bit_rate = spec.bit_rate
    if spec.color is not None:
        cc.color_range, cc.colorspace, cc.color_primaries, cc.color_trc = spec.color
    if spec.max_b_frames is not None:
        cc.max_b_frames = spec.max_b_frames
    if spec.vfr:
        stream.time_base = Fraction(1, 1000)
        cc.time_base = Fraction(1, 1000)


def mux_audio(out: av.container.OutputContainer, audio: av.AudioStream, k: int, rate: int) -> None:
    """The audio of video frame ``k``: a 440 Hz tone, 16 kHz mono."""
    samples = 16000 // rate
    t = (np.arange(samples) + k * samples) / 16000
    wave = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
    frame = av.AudioFrame.from_ndarray(wave, format="fltp", layout="mono")
    frame.sample_rate = 16000
    frame.pts = k * samples
    out.mux(audio.encode(frame))
