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
from av.video.reformatter import Interpolation, VideoReformatter

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


#: ``interpolation=`` names: swscale's scaling algorithms (PyAV's ``Interpolation``).
INTERPOLATIONS = {
    "nearest": "POINT",
    "fast_bilinear": "FAST_BILINEAR",
    "bilinear": "BILINEAR",
    "bicubic": "BICUBIC",
    "bicublin": "BICUBLIN",
    "area": "AREA",
    "gauss": "GAUSS",
    "sinc": "SINC",
    "lanczos": "LANCZOS",
    "spline": "SPLINE",
}

#: A crop box in source pixels: ``(top, left, height, width)``.
Box = tuple[int, int, int, int]


class Converter:
    """RGB conversion shared by the pictures of one read. One reformatter keeps its
    swscale context from picture to picture; a new one per picture (what
    ``VideoFrame.reformat`` does) sets swscale up again each time, which costs more
    than converting a 640x360 picture."""

    __slots__ = ("_crop", "_flags", "_height", "_reformatter", "_width")

    def __init__(
        self,
        size: tuple[int, int] | None = None,
        interpolation: str = "bilinear",
        crop: Box | None = None,
    ) -> None:
        """``size``: the output's ``(height, width)``, scaled by swscale in the same pass
        as the conversion (a separate resize would convert and copy every picture
        twice); None keeps the decoded (or cropped) size. ``interpolation``: a name of
        :data:`INTERPOLATIONS`. ``crop``: a box of the decoded picture that alone is
        converted (and scaled): see :class:`Cropper`."""
        self._reformatter = VideoReformatter()
        self._height: int | None = None if size is None else size[0]
        self._width: int | None = None if size is None else size[1]
        self._flags = Interpolation[INTERPOLATIONS[interpolation]]
        self._crop = None if crop is None else Cropper(crop)

    def __call__(self, frame: av.VideoFrame) -> av.VideoFrame:
        if self._crop is not None:
            frame = self._crop(frame)
        threads = convert_threads(frame.width, frame.height)
        return self._reformatter.reformat(
            frame,
            width=self._width,
            height=self._height,
            format="rgb24",
            interpolation=self._flags,
            threads=threads,
        )


class Cropper:
    """Crops a picture without copying a pixel: FFmpeg's crop filter (``exact=1``) only
    moves the planes' data pointers and shrinks the frame, so the swscale pass that
    follows reads the box alone. (PyAV's ``reformat`` takes no source rectangle, and
    cropping the RGB output instead would convert pixels that are thrown away.)

    Where the chroma planes hold samples of more than one byte and are subsampled
    horizontally (10-bit 4:2:0 and 4:2:2, semi-planar NV12), the crop filter addresses
    an odd left edge in the middle of a chroma sample: the box's left edge moves one
    pixel left there (its size stays), as FFmpeg's default (``exact=0``) would."""

    __slots__ = ("_box", "_graph", "_key", "_sink", "_source")

    def __init__(self, box: Box) -> None:
        self._box = box
        self._key: tuple[int, int, str] | None = None
        self._graph: av.filter.Graph | None = None
        self._source: Any = None
        self._sink: Any = None

    def __call__(self, frame: av.VideoFrame) -> av.VideoFrame:
        key = (frame.width, frame.height, frame.format.name)
        if key != self._key:  # the filter is set up for one picture size and format
            self._configure(frame)
            self._key = key
        self._source.push(frame)
        cropped = self._sink.pull()
        assert isinstance(cropped, av.VideoFrame)
        return cropped

    def _configure(self, frame: av.VideoFrame) -> None:
        top, left, height, width = self._box
        if left % 2 and _wide_subsampled_chroma(frame.format):
            left -= 1
        graph = av.filter.Graph()
        source = graph.add(
            "buffer",
            video_size=f"{frame.width}x{frame.height}",
            pix_fmt=frame.format.name,
            time_base="1/1",
            pixel_aspect="1/1",
            # The frames' own colour properties, so the source never sees them change.
            colorspace=str(int(frame.colorspace)),
            range=str(int(frame.color_range)),
        )
        crop = graph.add("crop", w=str(width), h=str(height), x=str(left), y=str(top), exact="1")
        sink = graph.add("buffersink")
        source.link_to(crop)
        crop.link_to(sink)
        graph.configure()
        # The graph owns its filters: it must live as long as they are used.
        self._graph, self._source, self._sink = graph, source, sink


def _wide_subsampled_chroma(fmt: av.VideoFormat) -> bool:
    """Whether a chroma plane is subsampled horizontally and steps more than one byte a
    sample (where the crop filter cannot start at an odd luma column)."""
    if fmt.chroma_width(16) == 16:
        return False
    steps: dict[int, int] = {}
    for component in fmt.components:
        if component.is_chroma:
            steps[component.plane] = steps.get(component.plane, 0) + (component.bits + 7) // 8
    return any(step > 1 for step in steps.values())


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

    def rgb(self, out: np.ndarray | None = None, convert: Converter | None = None) -> np.ndarray:
        """The picture as ``(H, W, 3)`` uint8 RGB, written into ``out`` if given.

        The same conversion as ``VideoFrame.to_ndarray(format="rgb24")`` (swscale, the
        frame's colour properties), copied once from the converted plane. ``convert``:
        another conversion than the read's (another crop of the same decoded picture:
        clips of one sample cropped differently share its decode), not kept."""
        view = self._view() if convert is None else _plane_view(convert(self._frame))
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
        return _plane_view(self._rgb)

    def using(self, convert: Converter) -> Picture:
        """The same decoded picture, converted by ``convert``."""
        return Picture(self._frame, convert)


def _plane_view(rgb: av.VideoFrame) -> np.ndarray:
    """An rgb24 frame as an ``(H, W, 3)`` view of its plane (rows may be padded)."""
    plane = rgb.planes[0]
    h, w = rgb.height, rgb.width
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
