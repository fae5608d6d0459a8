"""Decode chosen frames from stored packets, with no container (format_spec/reading.md).

The decoder is built from the stored codec parameters and fed the stored packets of
each run. Every packet is given its decode-order index as pts; decoders carry a
packet's pts to the picture it holds, so each output picture names its packet, and
therefore its frame number, whatever the decoder dropped, reordered or delayed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from hubcli.errors import InvalidSampleError
from hubcli.format.frames import FLAG_KEYFRAME, FrameTable
from hubcli.settings import config
from hubcli.video.nal import is_disposable, nal_length_size

if TYPE_CHECKING:
    from hubcli.format.segment import CodecParams
    from hubcli.video.plan import Run

#: Yields the bytes of packets ``start..stop-1``, in decode order.
PacketReader = Callable[[int, int], Iterator[bytes]]

#: Below this many pixels a second conversion thread costs more than it saves.
_SMALL_PICTURE = 1 << 19

# The stored codec name is FFmpeg's codec (descriptor) name. Where several decoders
# exist, take the one the demuxer would (FFmpeg registers libdav1d before its native
# AV1 decoder, which only works with a hardware accelerator).
_PREFERRED_DECODERS = {"av1": ("libdav1d", "libaom-av1", "av1")}


def _decoder_name(codec: str) -> str:
    for name in _PREFERRED_DECODERS.get(codec, ()):
        try:
            av.Codec(name, "r")
        except (av.FFmpegError, ValueError):
            continue
        return name
    return codec


def open_decoder(params: CodecParams, threads: int | None = None) -> av.VideoCodecContext:
    """A decoder configured as the demuxer would have configured it, with ``threads``
    threads (None: ``hubcli.config.decoder_threads``; 0: FFmpeg picks)."""
    try:
        ctx = av.CodecContext.create(_decoder_name(params.name), "r")
    except (av.FFmpegError, ValueError) as exc:
        raise InvalidSampleError(f"no decoder for codec {params.name!r} in this FFmpeg") from exc
    assert isinstance(ctx, av.VideoCodecContext)
    if params.extradata:
        ctx.extradata = params.extradata
    tag = params.tag.to_bytes(4, "little")
    if params.tag and tag.isascii():  # PyAV takes tags as ASCII text
        ctx.codec_tag = tag.decode("ascii")
    ctx.width, ctx.height = params.width, params.height
    ctx.pix_fmt = params.pix_fmt
    # Colour properties from the container reach the frames only through the context,
    # and they change the RGB conversion, so they must match the demuxer's.
    ctx.color_range = params.color_range
    ctx.colorspace = params.colorspace
    ctx.color_primaries = params.color_primaries
    ctx.color_trc = params.color_trc
    ctx.bits_per_coded_sample = params.bits_per_coded_sample
    ctx.field_order = params.field_order
    ctx.thread_count = config.decoder_threads if threads is None else threads
    ctx.thread_type = "AUTO"
    return ctx


def convert_threads(width: int, height: int) -> int:
    """swscale threads for one picture: ``hubcli.config.convert_threads``, or by size
    when it is 0."""
    if config.convert_threads:
        return config.convert_threads
    return 1 if width * height < _SMALL_PICTURE else 2


class Converter:
    """RGB conversion shared by the pictures of one read. One reformatter keeps its
    swscale context from picture to picture; a new one per picture (what
    ``VideoFrame.reformat`` does) sets swscale up again each time, which costs more
    than converting a 640x360 picture."""

    __slots__ = ("_height", "_reformatter", "_width")

    def __init__(self, size: tuple[int, int] | None = None) -> None:
        """``size``: the output's ``(height, width)``, scaled by swscale in the same pass
        as the conversion (a separate resize would convert and copy every picture
        twice); None keeps the decoded size."""
        self._reformatter = VideoReformatter()
        self._height: int | None = None if size is None else size[0]
        self._width: int | None = None if size is None else size[1]

    def __call__(self, frame: av.VideoFrame) -> av.VideoFrame:
        threads = convert_threads(frame.width, frame.height)
        return self._reformatter.reformat(
            frame, width=self._width, height=self._height, format="rgb24", threads=threads
        )


class Picture:
    """A decoded picture, converted to RGB only on request (and only once)."""

    __slots__ = ("_convert", "_frame", "_rgb")

    def __init__(self, frame: av.VideoFrame, convert: Converter) -> None:
        self._frame = frame
        self._convert = convert
        self._rgb: av.VideoFrame | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self._frame.height, self._frame.width, 3)

    def rgb(self, out: np.ndarray | None = None) -> np.ndarray:
        """The picture as ``(H, W, 3)`` uint8 RGB, written into ``out`` if given.

        The same conversion as ``VideoFrame.to_ndarray(format="rgb24")`` (swscale, the
        frame's colour properties), copied once from the converted plane."""
        view = self._view()
        if out is None:
            copied: np.ndarray = view.copy()
            return copied
        np.copyto(out, view)
        return out

    def rgb_bytes(self) -> memoryview:
        """The RGB bytes in C order, without a copy where the converted rows are
        contiguous (valid while this picture lives)."""
        view = self._view()
        if not view.flags.c_contiguous:
            view = np.ascontiguousarray(view)
        return view.data.cast("B")

    def _view(self) -> np.ndarray:
        """The converted picture as an ``(H, W, 3)`` view of swscale's output plane."""
        if self._rgb is None:
            self._rgb = self._convert(self._frame)
        plane = self._rgb.planes[0]
        h, w = self._rgb.height, self._rgb.width
        rows = np.frombuffer(memoryview(plane), np.uint8).reshape(h, plane.line_size)
        view: np.ndarray = rows[:, : w * 3].reshape(h, w, 3)
        return view


def decode_frames(
    params: CodecParams,
    table: FrameTable,
    runs: Sequence[Run],
    read_packets: PacketReader,
    *,
    where: str,
    size: tuple[int, int] | None = None,
    threads: int | None = None,
) -> Iterator[tuple[int, Picture]]:
    """Decode the wanted frames of ``runs`` (``plan_runs``; the caller plans, so that
    its packet reader can fetch ahead) and yield each, once, as ``(packet, picture)``
    in output order; their RGB conversion scales to ``size`` (``(height, width)``)
    when one is given. ``threads``: decoder threads (None: ``hubcli.config``)."""
    skip = _Disposable(params)
    convert = Converter(size)
    for run in runs:
        yield from _decode_run(params, table, run, read_packets, where, skip, convert, threads)


class _Disposable:
    """Recognises packets a run may leave out (video/nal.py)."""

    def __init__(self, params: CodecParams) -> None:
        self.codec = params.name
        self.length_size = nal_length_size(params.name, params.extradata)
        self.enabled = config.skip_non_reference  # one value for the whole read

    def __call__(self, data: bytes) -> bool:
        return self.enabled and is_disposable(self.codec, data, self.length_size)


def _decode_run(
    params: CodecParams,
    table: FrameTable,
    run: Run,
    read_packets: PacketReader,
    where: str,
    disposable: _Disposable,
    convert: Converter,
    threads: int | None,
) -> Iterator[tuple[int, Picture]]:
    ctx = open_decoder(params, threads)
    pending = set(run.wanted)
    index = run.start
    try:
        for data in read_packets(run.start, run.stop):
            # A non-reference picture nobody asked for: no later picture needs it.
            if index in pending or index == run.start or not disposable(data):
                for frame in ctx.decode(_packet(data, index, table)):
                    yield from _wanted(frame, pending, convert)
            index += 1
            if not pending:
                return
        for frame in ctx.decode(None):  # drain the pictures still held for reordering
            yield from _wanted(frame, pending, convert)
    except av.FFmpegError as exc:
        raise InvalidSampleError(
            f"{where}: the video cannot be decoded (packet {index}: {exc.strerror})"
        ) from exc
    if pending:
        raise InvalidSampleError(
            f"{where}: the decoder produced no picture for packet(s) {sorted(pending)[:5]}"
        )


def _packet(data: bytes, index: int, table: FrameTable) -> av.Packet[Any]:
    # A packet that owns a copy: one wrapping Python bytes is freed by a decoder thread
    # that then needs the GIL, which deadlocks libdav1d's teardown; and FFmpeg wants
    # zeroed padding after the data, which av.Packet(size) allocates.
    packet = av.Packet(len(data))
    packet.update(data)
    packet.pts = packet.dts = index
    packet.is_keyframe = bool(table.flags[index] & FLAG_KEYFRAME)
    return packet


def _wanted(
    frame: av.VideoFrame, pending: set[int], convert: Converter
) -> Iterator[tuple[int, Picture]]:
    """The picture of ``frame`` if it was asked for (and not yet given)."""
    packet = frame.pts
    if packet is None or packet not in pending:
        return  # a picture nobody asked for (or a discarded one): skip the RGB work
    pending.discard(packet)
    yield packet, Picture(frame, convert)
