"""Making a stored video playable in a browser: remux (same codec, new container) or
transcode (H.264 in MP4), into a local file. Nothing here touches the dataset."""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

import av

from hubcli.errors import InvalidSampleError

if TYPE_CHECKING:
    from pathlib import Path

#: Codecs and containers Chromium decodes without help (shared/VIDEO_NOTES.md).
BROWSER_CODECS = {"h264", "vp8", "vp9", "av1"}
BROWSER_CONTAINERS = {"mp4", "mov", "webm", "mkv"}
_MP4_CODECS = {"h264", "av1", "vp9"}


def playback_plan(container: str, codec: str) -> str:
    """``direct``, ``remux`` (into MP4) or ``transcode`` (to H.264 in MP4)."""
    if codec not in BROWSER_CODECS:
        return "transcode"
    if container in BROWSER_CONTAINERS:
        return "direct"
    return "remux" if codec in _MP4_CODECS else "transcode"


def remux_to_mp4(source: Path, target: Path) -> None:
    """Copy the first video stream's packets into a faststart MP4 (no re-encoding)."""
    try:
        with (
            av.open(str(source)) as src,
            av.open(str(target), "w", format="mp4", options={"movflags": "faststart"}) as out,
        ):
            stream = src.streams.video[0]
            copy = out.add_stream_from_template(stream)
            for packet in src.demux(stream):
                if packet.dts is None or not packet.size:
                    continue
                packet.stream = copy
                out.mux(packet)
    except av.FFmpegError as exc:
        raise InvalidSampleError(
            f"{source.name}: cannot remux for playback ({exc.strerror})"
        ) from exc


def transcode_to_mp4(source: Path, target: Path, crf: int = 20) -> None:
    """Decode everything and encode H.264 (yuv420p, even size) in a faststart MP4,
    keeping each frame's presentation time."""
    try:
        with (
            av.open(str(source)) as src,
            av.open(str(target), "w", format="mp4", options={"movflags": "faststart"}) as out,
        ):
            stream = src.streams.video[0]
            time_base = stream.time_base or Fraction(1, 1000)
            rate = stream.average_rate or Fraction(25)
            encoder = out.add_stream(
                "libx264", rate=rate, options={"crf": str(crf), "preset": "veryfast"}
            )
            encoder.width = stream.codec_context.width // 2 * 2
            encoder.height = stream.codec_context.height // 2 * 2
            encoder.pix_fmt = "yuv420p"
            encoder.codec_context.time_base = time_base
            for frame in src.decode(stream):
                picture = frame.reformat(
                    width=encoder.width, height=encoder.height, format="yuv420p"
                )
                picture.pts, picture.time_base = frame.pts, time_base
                out.mux(encoder.encode(picture))
            out.mux(encoder.encode(None))
    except av.FFmpegError as exc:
        raise InvalidSampleError(
            f"{source.name}: cannot transcode for playback ({exc.strerror})"
        ) from exc
