"""Encoding exported frames with PyAV: still images (PNG, JPEG), clips (H.264, VP9), and
stream copies of stored packets into a new container.

Everything here writes the one local file (or returns the bytes) it is given and holds
one frame at a time plus the encoder's own state; naming, temporary files and the
dataset are the caller's (hubcli/core/export*.py).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import av
from av.video.reformatter import VideoReformatter

from hubcli.errors import ExportError, InvalidSampleError

if TYPE_CHECKING:
    import io
    from collections.abc import Iterable

    import numpy as np


@dataclass(frozen=True)
class ClipCodec:
    """How a clip format is written: FFmpeg's muxer, the encoder and its settings."""

    muxer: str
    encoder: str
    options: dict[str, str] = field(default_factory=dict)


# "Exact" re-encode: full-resolution chroma (4:4:4, as the RGB frames have) and a quality
# where a decode of the clip stays close to every source frame (over 35 dB PSNR on the
# test corpus's sharp synthetic patterns). Presets favour speed: an export runs at the
# encoder's pace, and these are working copies, not distribution masters.
_X264 = {"crf": "10", "preset": "veryfast"}
_VP9 = {"crf": "15", "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"}
CLIP_CODECS = {
    "mp4": ClipCodec("mp4", "libx264", _X264),
    "mkv": ClipCodec("matroska", "libx264", _X264),
    "webm": ClipCodec("webm", "libvpx-vp9", _VP9),
}
CLIP_PIX_FMT = "yuv444p"
#: BT.601 (SMPTE 170M) limited range: what swscale converts RGB with by default, written
#: into the stream so that players convert back with the same matrix.
_COLORSPACE_SMPTE170M = 6
_RANGE_MPEG = 1
_RANGE_JPEG = 2
#: MP4's movie header counts in 1/1000 s unless told otherwise, which rounds the edit
#: list that keeps a clip's first timestamp: use the stream's own time base instead.
_MAX_TIMESCALE = 2**31 - 1


def jpeg_qscale(quality: int) -> int:
    """FFmpeg's JPEG quantiser scale (1 best .. 31 worst) for a quality of 1..100."""
    return round(1 + (100 - quality) * 30 / 99)


#: From this quality up, JPEGs keep full-resolution chroma (4:4:4); below it, 4:2:0.
JPEG_FULL_CHROMA_QUALITY = 90


class ImageEncoder:
    """Encodes RGB frames, one file's bytes each, as PNG (lossless) or JPEG."""

    def __init__(self, fmt: str, quality: int) -> None:
        self.fmt = fmt
        self.quality = quality
        self._ctx: av.VideoCodecContext | None = None
        self._reformatter = VideoReformatter()
        self._count = 0

    def encode(self, rgb: np.ndarray) -> bytes:
        """The image file holding ``rgb`` (``(H, W, 3)`` uint8)."""
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        try:
            ctx = self._context(frame.width, frame.height)
            if ctx.pix_fmt != "rgb24":
                frame = self._reformatter.reformat(
                    frame, format=ctx.pix_fmt, dst_color_range=_RANGE_JPEG
                )
            # Encoders refuse a pts that does not increase, even for intra-only codecs.
            frame.pts = self._count
            self._count += 1
            return b"".join(bytes(p) for p in ctx.encode(frame))
        except av.FFmpegError as exc:
            raise ExportError(f"cannot encode a {self.fmt} image ({exc.strerror})") from exc

    def _context(self, width: int, height: int) -> av.VideoCodecContext:
        # PNG and JPEG are intra-only: one context serves every picture of a size, and
        # each picture comes out of it at once.
        ctx = self._ctx
        if ctx is not None and (ctx.width, ctx.height) == (width, height):
            return ctx
        created = av.CodecContext.create("png" if self.fmt == "png" else "mjpeg", "w")
        assert isinstance(created, av.VideoCodecContext)
        created.width, created.height = width, height
        created.time_base = Fraction(1, 1)
        if self.fmt == "png":
            created.pix_fmt = "rgb24"
        else:
            full = self.quality >= JPEG_FULL_CHROMA_QUALITY
            created.pix_fmt = "yuv444p" if full else "yuv420p"
            created.color_range = _RANGE_JPEG  # JPEG's YCbCr is full range
            # A fixed quantiser: rate control kept within [qmin, qmax] = one value.
            created.qmin = created.qmax = jpeg_qscale(self.quality)
        self._ctx = created
        return created


class ClipEncoder:
    """A clip written frame by frame: ``write(rgb, pts)`` in presentation order, pts in
    ``time_base`` units, then ``close()``. A context manager: leaving it on an error
    closes the file without finishing it (the caller discards it)."""

    def __init__(self, path: str, fmt: str, width: int, height: int, time_base: Fraction) -> None:
        codec = CLIP_CODECS[fmt]
        self.path = path
        self._reformatter = VideoReformatter()
        try:
            self._out = av.open(
                path, "w", format=codec.muxer, options=_muxer_options(fmt, time_base)
            )
            stream = self._out.add_stream(codec.encoder, options=dict(codec.options))
        except (av.FFmpegError, ValueError) as exc:
            raise ExportError(f"cannot write {path}: {_reason(exc)}") from exc
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = width, height, CLIP_PIX_FMT
        stream.time_base = time_base
        ctx = stream.codec_context
        ctx.time_base = time_base
        ctx.colorspace, ctx.color_range = _COLORSPACE_SMPTE170M, _RANGE_MPEG
        self._stream = stream
        self._time_base = time_base

    def __enter__(self) -> ClipEncoder:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            with contextlib.suppress(av.FFmpegError, OSError):
                self._out.close()

    def write(self, rgb: np.ndarray, pts: int) -> None:
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame = self._reformatter.reformat(frame, format=CLIP_PIX_FMT)
        frame.pts, frame.time_base = pts, self._time_base
        try:
            self._out.mux(self._stream.encode(frame))
        except av.FFmpegError as exc:
            raise ExportError(f"cannot encode {self.path} ({exc.strerror})") from exc

    def close(self) -> None:
        try:
            self._out.mux(self._stream.encode(None))  # what the encoder still holds
            self._out.close()
        except av.FFmpegError as exc:
            raise ExportError(f"cannot finish {self.path} ({exc.strerror})") from exc


@dataclass(frozen=True, slots=True)
class StoredPacket:
    """A packet to copy: its bytes and timing (None: no timestamp), decode order."""

    data: bytes
    pts: int | None
    dts: int | None
    keyframe: bool
    duration: int = 0


def copy_packets(
    source: io.RawIOBase,
    path: str,
    fmt: str,
    packets: Iterable[StoredPacket],
    time_base: Fraction,
    *,
    where: str,
) -> None:
    """Write ``packets`` unchanged into a new ``fmt`` file at ``path``.

    The new stream's parameters (codec, extradata, size, colour) are copied from the
    video stream of the original file ``source``, which the packets came from: a
    container is opened on it only for its header, its packets are not read."""
    try:
        src = av.open(source, "r")
    except av.FFmpegError as exc:
        raise InvalidSampleError(f"{where}: cannot open the stored file ({exc.strerror})") from exc
    with src:
        template = _video_stream(src, where)
        try:
            out = av.open(
                path, "w", format=CLIP_CODECS[fmt].muxer, options=_muxer_options(fmt, time_base)
            )
        except av.FFmpegError as exc:
            raise ExportError(f"cannot write {path}: {exc.strerror}") from exc
        try:
            # opaque: the decoder's own codec is copied, so a codec with no encoder here
            # (AV1 read by libdav1d) can still be muxed.
            stream = out.add_stream_from_template(template, opaque=True)
        except ValueError:
            out.close()
            codec = template.codec_context.name
            raise ExportError(
                f"--copy cannot put {codec} video into .{fmt}",
                hint="write .mkv (it holds any codec), or drop --copy to re-encode",
            ) from None
        with out:
            _mux_all(out, stream, packets, time_base, path)


def _mux_all(
    out: av.container.OutputContainer,
    stream: Any,
    packets: Iterable[StoredPacket],
    time_base: Fraction,
    path: str,
) -> None:
    try:
        for stored in packets:
            packet = av.Packet(stored.data)
            packet.pts, packet.dts, packet.duration = stored.pts, stored.dts, stored.duration
            packet.time_base = time_base
            packet.is_keyframe = stored.keyframe
            packet.stream = stream
            out.mux(packet)
    except av.FFmpegError as exc:
        raise ExportError(f"cannot write {path} ({exc.strerror})") from exc


def _video_stream(container: av.container.InputContainer, where: str) -> av.VideoStream:
    # The stream hubcli indexed: the first video stream that is not cover art.
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    raise InvalidSampleError(f"{where}: the stored file has no video stream")


def _muxer_options(fmt: str, time_base: Fraction) -> dict[str, str]:
    if fmt != "mp4":
        return {}
    options = {"movflags": "faststart"}  # the index first: playable while it downloads
    if 0 < time_base.denominator <= _MAX_TIMESCALE:
        options["movie_timescale"] = str(time_base.denominator)
    return options


def _reason(exc: Exception) -> str:
    return exc.strerror if isinstance(exc, av.FFmpegError) and exc.strerror else str(exc)
