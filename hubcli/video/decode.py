"""Decode chosen frames from stored packets, with no container (format_spec/reading.md).

The decoder is built from the stored codec parameters and fed the stored packets of
each run. Every packet is given its decode-order index as pts; decoders carry a
packet's pts to the picture it holds, so each output picture names its packet, and
therefore its frame number, whatever the decoder dropped, reordered or delayed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import av
import numpy as np

from hubcli.errors import InvalidSampleError
from hubcli.format.frames import FLAG_KEYFRAME, FrameTable
from hubcli.video.plan import Run, plan_runs

if TYPE_CHECKING:
    from hubcli.format.segment import CodecParams

#: Yields the bytes of packets ``start..stop-1``, in decode order.
PacketReader = Callable[[int, int], Iterator[bytes]]
#: Receives (packet index, RGB frame) for each wanted picture, in output order.
FrameSink = Callable[[int, np.ndarray], None]

DECODER_THREADS = 0  # 0 = FFmpeg picks from the core count

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


def open_decoder(params: CodecParams, threads: int = DECODER_THREADS) -> av.VideoCodecContext:
    """A decoder configured as the demuxer would have configured it."""
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
    ctx.thread_count = threads
    ctx.thread_type = "AUTO"
    return ctx


def decode_frames(
    params: CodecParams,
    table: FrameTable,
    frames: np.ndarray,
    read_packets: PacketReader,
    sink: FrameSink,
    *,
    where: str,
) -> None:
    """Decode every frame number in ``frames`` and hand each (once) to ``sink``."""
    for run in plan_runs(table, frames):
        _decode_run(params, table, run, read_packets, sink, where)


def _decode_run(
    params: CodecParams,
    table: FrameTable,
    run: Run,
    read_packets: PacketReader,
    sink: FrameSink,
    where: str,
) -> None:
    ctx = open_decoder(params)
    pending = set(run.wanted)
    index = run.start
    try:
        for data in read_packets(run.start, run.stop):
            for frame in ctx.decode(_packet(data, index, table)):
                _deliver(frame, pending, sink)
            index += 1
            if not pending:
                return
        for frame in ctx.decode(None):  # drain the pictures still held for reordering
            _deliver(frame, pending, sink)
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
    # that then needs the GIL, which deadlocks libdav1d's teardown.
    packet = av.Packet(len(data))
    packet.update(data)
    packet.pts = packet.dts = index
    packet.is_keyframe = bool(table.flags[index] & FLAG_KEYFRAME)
    return packet


def _deliver(frame: av.VideoFrame, pending: set[int], sink: FrameSink) -> None:
    packet = frame.pts
    if packet is None or packet not in pending:
        return  # a picture nobody asked for (or a discarded one): skip the RGB work
    pending.discard(packet)
    sink(packet, frame.to_ndarray(format="rgb24"))
