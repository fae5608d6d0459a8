"""Test media: videos encoded with PyAV at test time, and the independent oracle decode.

Every frame ``k`` of a generated video paints a pattern derived from ``k`` so that a
wrong frame is visibly (and hash-wise) different from the right one. The oracle is a
plain PyAV decode of the whole file from the start; it shares no code with hubcli.
The spec, the encoder and the frame hash live in ``testkit`` (shared with the
benchmark); they are re-exported here under their old names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import av
import numpy as np

from testkit.frames import frame_hash
from testkit.videos import VideoSpec, make_video, mux_audio, paint

if TYPE_CHECKING:
    from fractions import Fraction
    from pathlib import Path

__all__ = [
    "BIG",
    "CORPUS",
    "LONG",
    "STREAM_720P",
    "Decoded",
    "VideoSpec",
    "decode_all",
    "decode_some",
    "frame_hash",
    "make_audio_only",
    "make_video",
    "paint",
    "scramble_packets",
]


@dataclass(frozen=True)
class Decoded:
    """The oracle: every frame of a full decode from the start, in output order."""

    frames: list[np.ndarray]
    pts: list[int]
    times: list[float]  # PyAV's frame.time: the seconds the decoder reports
    time_base: Fraction

    @property
    def timestamps(self) -> np.ndarray:
        return np.array(self.times, dtype=np.float64)

    def hashes(self) -> list[str]:
        return [frame_hash(f) for f in self.frames]


def decode_all(path: Path) -> Decoded:
    """Decode the first video stream of ``path`` from the start with plain PyAV."""
    frames: list[np.ndarray] = []
    pts: list[int] = []
    times: list[float] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24"))
            pts.append(frame.pts)
            times.append(frame.time)
        time_base = stream.time_base
    return Decoded(frames, pts, times, time_base)


VP9_FAST = (("deadline", "realtime"), ("cpu-used", "8"))
X264_BFRAMES = (("x264-params", "bframes=3:b-pyramid=normal"), ("preset", "veryfast"))

CORPUS: list[VideoSpec] = [
    # B-frames and an edit list: the first frames have negative pts, so the MP4 muxer
    # writes an edit list and the demuxer marks the packets before it discard.
    VideoSpec("h264_bframes_editlist", "mp4", "libx264", options=X264_BFRAMES, pts_offset=-5),
    VideoSpec("h264_bframes", "mp4", "libx264", options=X264_BFRAMES),
    VideoSpec(
        "h264_open_gop",
        "mkv",
        "libx264",
        frames=72,
        options=(("x264-params", "bframes=3:open-gop=1:keyint=12:min-keyint=12:scenecut=0"),),
    ),
    VideoSpec("hevc", "mp4", "libx265", options=(("x265-params", "log-level=error:keyint=12"),)),
    VideoSpec(
        "hevc_10bit_open_gop",
        "mkv",
        "libx265",
        pix_fmt="yuv420p10le",
        options=(("x265-params", "log-level=error:keyint=12:open-gop=1:bframes=4"),),
    ),
    VideoSpec("vp9", "webm", "libvpx-vp9", options=VP9_FAST),
    VideoSpec("vp9_mkv", "mkv", "libvpx-vp9", options=VP9_FAST),
    VideoSpec(
        "av1",
        "mkv",
        "libsvtav1",
        options=(("preset", "12"),),
        width=128,
        height=64,
    ),
    VideoSpec("mpeg4_avi", "avi", "mpeg4", max_b_frames=2),
    VideoSpec("vfr", "mp4", "libx264", vfr=True, options=X264_BFRAMES),
    VideoSpec("audio", "mp4", "libx264", audio=True, options=X264_BFRAMES),
    VideoSpec(
        "odd_444", "mkv", "libx264", width=97, height=55, pix_fmt="yuv444p", options=X264_BFRAMES
    ),
    VideoSpec("mov", "mov", "libx264", options=X264_BFRAMES),
    # Full range, BT.709: the colour properties change the RGB conversion.
    VideoSpec(
        "fullrange_bt709",
        "mp4",
        "libx264",
        pix_fmt="yuvj420p",
        color=(2, 1, 1, 1),
        options=X264_BFRAMES,
    ),
    VideoSpec(
        "faststart",
        "mp4",
        "libx264",
        options=X264_BFRAMES,
        container_options=(("movflags", "faststart"),),
    ),
]

#: 720p, 480 frames: an export of it (1.3 GB of RGB) is far larger than the memory
#: cap of the streaming-export test.
BIG = VideoSpec(
    "big_720p",
    "mp4",
    "libx264",
    frames=480,
    gop=60,
    width=1280,
    height=720,
    options=(("preset", "ultrafast"), ("x264-params", "bframes=2")),
)

#: The streaming byte-budget clip of the remote issue: 1280x720, 60 s at 24 fps,
#: 8 Mbit/s constant bit rate, GOP 250 with B-frames.
STREAM_720P = VideoSpec(
    "stream_720p",
    "mp4",
    "libx264",
    frames=1440,
    gop=250,
    width=1280,
    height=720,
    options=(
        ("preset", "ultrafast"),
        (
            "x264-params",
            "keyint=250:min-keyint=250:scenecut=0:bframes=3:bitrate=8000:"
            "vbv-maxrate=8000:vbv-bufsize=8000:nal-hrd=cbr",
        ),
    ),
)

#: A longer clip with many GOPs, for "decode only what is needed" tests.
LONG = VideoSpec(
    "long_gop30", "mp4", "libx264", frames=300, gop=30, width=160, height=96, options=X264_BFRAMES
)


def make_audio_only(path: Path) -> Path:
    """An mp4 with one AAC stream and no video."""
    with av.open(str(path), "w") as out:
        audio = out.add_stream("aac", rate=16000)
        for k in range(20):
            mux_audio(out, audio, k, 24)
        out.mux(audio.encode(None))
    return path


def scramble_packets(src: Path, dst: Path, first: int) -> Path:
    """Copy ``src`` with the bytes of video packets ``first..`` replaced by noise: the
    container stays valid, the stream stops being decodable."""
    data = bytearray(src.read_bytes())
    with av.open(str(src)) as container:
        for n, packet in enumerate(container.demux(container.streams.video[0])):
            payload = bytes(packet)
            if n < first or not payload:
                continue
            at = data.find(payload, packet.pos, packet.pos + 64 + len(payload))
            assert at >= 0, "packet bytes not found near their position"
            for i in range(at, at + len(payload)):
                data[i] = (i * 7919) % 251
    dst.write_bytes(bytes(data))
    return dst


def decode_some(
    path: Path, wanted: set[int], size: tuple[int, int] | None = None
) -> dict[int, np.ndarray]:
    """Frames ``wanted`` of a full decode from the start, keeping only those in memory;
    with ``size`` (``(height, width)``), scaled by PyAV's own ``VideoFrame.reformat``."""
    found: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        for k, frame in enumerate(container.decode(video=0)):
            if k not in wanted:
                continue
            if size is None:
                found[k] = frame.to_ndarray(format="rgb24")
            else:
                height, width = size
                found[k] = frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
    return found


# --- crop and interpolation: numpy cropping the planes of a PyAV decode ----------------
def crop_planes(
    frame: av.VideoFrame, box: tuple[int, int, int, int], chroma_location: str | None
) -> av.VideoFrame:
    """A new frame holding ``box`` (top, left, height, width) of ``frame``'s planes,
    copied by numpy (chroma planes at the box's position over their subsampling), with
    its colour properties; ``chroma_location`` as the decoder tags it (PyAV cannot read
    it, and swscale siting the chroma differently changes every scaled pixel)."""
    top, left, height, width = box
    out = av.VideoFrame(width, height, frame.format.name)
    depth = 2 if frame.format.components[0].bits > 8 else 1
    for src, dst in zip(frame.planes, out.planes, strict=True):
        sub_x = 1 if src.width < frame.width else 0
        sub_y = 1 if src.height < frame.height else 0
        rows = np.frombuffer(memoryview(src), np.uint8).reshape(src.height, src.line_size)
        into = np.frombuffer(memoryview(dst), np.uint8).reshape(dst.height, dst.line_size)
        y, x, span = top >> sub_y, (left >> sub_x) * depth, dst.width * depth
        into[:, :span] = rows[y : y + dst.height, x : x + span]
    for name in ("colorspace", "color_range", "color_primaries", "color_trc"):
        setattr(out, name, getattr(frame, name))
    if chroma_location is None:
        return out
    graph = av.filter.Graph()  # the tag alone: setparams changes no pixel
    source = graph.add(
        "buffer",
        video_size=f"{width}x{height}",
        pix_fmt=frame.format.name,
        time_base="1/1",
        pixel_aspect="1/1",
    )
    tag = graph.add("setparams", chroma_location=chroma_location)
    sink = graph.add("buffersink")
    source.link_to(tag)
    tag.link_to(sink)
    graph.configure()
    source.push(out)
    return sink.pull()


def decode_cropped(
    path: Path,
    wanted: set[int],
    box: tuple[int, int, int, int],
    size: tuple[int, int] | None = None,
    interpolation: str = "BILINEAR",
    location: str | None = "left",
) -> dict[int, np.ndarray]:
    """Frames ``wanted`` of a plain PyAV decode from the start, cropped by numpy to
    ``box`` and converted (and scaled) by PyAV's ``reformat``."""
    found = {}
    with av.open(str(path)) as container:
        for k, frame in enumerate(container.decode(video=0)):
            if k in wanted:
                cropped = crop_planes(frame, box, location)
                height, width = size or (None, None)
                found[k] = cropped.reformat(
                    width=width, height=height, format="rgb24", interpolation=interpolation
                ).to_ndarray()
    return found
