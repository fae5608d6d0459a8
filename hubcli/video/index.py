"""Build a video's frame table and codec parameters by demuxing it once, at append time
(format_spec/frames.md §2).

No frame is decoded to build the index. Each packet's bytes are located in the file
(``pos`` plus the container's per-packet header) and checked byte for byte; the few
packets a demuxer rewrites (lacing, header stripping, parsers) are kept in a
supplement stored after the file, so every offset in the table is exact.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any, BinaryIO

import av
import numpy as np

from hubcli.errors import InvalidSampleError
from hubcli.format.frames import FLAG_DISCARD, FLAG_KEYFRAME, FrameTable
from hubcli.format.limits import MAX_PIXELS, MAX_SIDE
from hubcli.format.segment import CodecParams, LinkInfo, SampleRecord
from hubcli.video.containers import SNIFF_BYTES, matroska_declared_end, sniff_container
from hubcli.video.decode import decode_frames
from hubcli.video.plan import plan_runs

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

# A packet's bytes start at most this far after the position the demuxer reports
# (AVI and Matroska put a small block header there).
_LOCATE_WINDOW = 64


@dataclass(frozen=True)
class IndexedVideo:
    """What append stores for one video besides its bytes."""

    format: str
    codec: CodecParams
    table: FrameTable
    supplement: bytes
    time_base: Fraction
    fps: float
    duration: int

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (self.table.frame_count, self.codec.height, self.codec.width, 3)

    def to_record(
        self,
        *,
        chunk: int | None,
        offset: int,
        size: int,
        sha256: bytes,
        filename: str,
        link: LinkInfo | None = None,
    ) -> SampleRecord:
        """The sample record of this video; its frame-table location is filled in when
        the segment is encoded."""
        return SampleRecord(
            chunk=chunk,
            offset=offset,
            size=size,
            extra_size=len(self.supplement),
            sha256=sha256,
            frames_offset=0,
            frames_size=0,
            frames_crc32=0,
            filename=filename,
            format=self.format,
            shape=self.shape,
            fps=self.fps,
            time_base=(self.time_base.numerator, self.time_base.denominator),
            duration=self.duration,
            codec=self.codec,
            link=link,
        )


@dataclass
class _Columns:
    offset: list[int] = field(default_factory=list)
    size: list[int] = field(default_factory=list)
    pts: list[int] = field(default_factory=list)
    dts: list[int] = field(default_factory=list)
    flags: list[int] = field(default_factory=list)
    crc32: list[int] = field(default_factory=list)
    durations: list[int] = field(default_factory=list)


def index_video(opener: Callable[[], BinaryIO], size: int, name: str) -> IndexedVideo:
    """Demux the file ``opener`` opens (``size`` bytes, called ``name`` in errors).

    Raises InvalidSampleError for anything that is not a complete, decodable video.
    """
    if size == 0:
        raise InvalidSampleError(f"{name}: the file is empty", hint="append a video file")
    with opener() as head_file:
        head = head_file.read(SNIFF_BYTES)
    container_format = sniff_container(head)
    with opener() as demux_file, opener() as locate_file:
        try:
            container = av.open(demux_file, "r", format=None)
        except av.FFmpegError as exc:
            if container_format is None:
                problem = f"not a video file FFmpeg can read ({exc.strerror})"
            else:
                problem = (
                    f"looks like {container_format} but FFmpeg cannot read it "
                    f"({exc.strerror}); the file is damaged or truncated"
                )
            raise InvalidSampleError(f"{name}: {problem}") from None
        with container:
            indexed = _index_container(container, locate_file, size, name, container_format)
    _check_matroska_length(head, size, indexed.format, name)
    _check_decodes(indexed, opener, size, name)
    return indexed


def _index_container(
    container: av.container.InputContainer,
    locate_file: BinaryIO,
    size: int,
    name: str,
    sniffed: str | None,
) -> IndexedVideo:
    # The first video stream that is a video: cover art is a one-picture "stream".
    streams = [
        s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic
    ]
    if not streams:
        raise InvalidSampleError(f"{name}: has no video stream")
    stream = streams[0]
    fmt = sniffed or container.format.name.split(",")[0]
    cols, supplement = _Columns(), bytearray()
    try:
        for packet in container.demux(stream):
            if packet.size:
                _add_packet(cols, supplement, packet, locate_file, size, name, stream)
    except av.FFmpegError as exc:
        raise InvalidSampleError(f"{name}: the file is corrupt ({exc.strerror})") from None
    if stream.frames and len(cols.offset) < stream.frames:
        raise InvalidSampleError(
            f"{name}: the file is truncated (its header lists {stream.frames} video packets, "
            f"only {len(cols.offset)} are in the file)"
        )
    table = _frame_table(cols, name)
    if table.frame_count == 0:
        raise InvalidSampleError(f"{name}: the video stream has no frames")
    time_base = stream.time_base or Fraction(1, 1)
    return IndexedVideo(
        format=fmt,
        codec=_codec_params(stream, name),
        table=table,
        supplement=bytes(supplement),
        time_base=time_base,
        fps=_fps(stream, table, time_base),
        duration=_duration(stream, table, cols),
    )


def _add_packet(
    cols: _Columns,
    supplement: bytearray,
    packet: av.Packet[Any],
    locate_file: BinaryIO,
    size: int,
    name: str,
    stream: av.VideoStream,
) -> None:
    if packet.is_corrupt:
        raise InvalidSampleError(
            f"{name}: the file is truncated or corrupt (damaged packet at byte {packet.pos})"
        )
    data = bytes(packet)
    offset = _locate(locate_file, data, packet.pos, size)
    if offset is None:
        offset = size + len(supplement)
        supplement += data
    pts, dts = packet.pts, packet.dts
    if pts is None:
        if stream.codec_context.has_b_frames:
            raise InvalidSampleError(
                f"{name}: packets without timestamps in a stream that reorders"
            )
        pts = dts
    if pts is None:
        raise InvalidSampleError(f"{name}: packets without timestamps")
    cols.offset.append(offset)
    cols.size.append(len(data))
    cols.pts.append(pts)
    cols.dts.append(pts if dts is None else dts)
    cols.flags.append(FLAG_KEYFRAME * packet.is_keyframe | FLAG_DISCARD * packet.is_discard)
    cols.crc32.append(zlib.crc32(data) & 0xFFFFFFFF)
    cols.durations.append(packet.duration or 0)


def _locate(f: BinaryIO, data: bytes, pos: int | None, size: int) -> int | None:
    """Offset of ``data`` in the file at or just after ``pos``, verified; else None."""
    if pos is None or pos < 0 or pos + len(data) > size:
        return None
    f.seek(pos)
    window = f.read(len(data) + _LOCATE_WINDOW)
    if window[: len(data)] == data:
        return pos
    found = window.find(data[:64])
    while 0 <= found <= _LOCATE_WINDOW:
        if window[found : found + len(data)] == data:
            return pos + found
        found = window.find(data[:64], found + 1)
    return None


def _frame_table(cols: _Columns, name: str) -> FrameTable:
    pts = np.array(cols.pts, dtype=np.int64)
    flags = np.array(cols.flags, dtype=np.uint8)
    shown = np.flatnonzero((flags & FLAG_DISCARD) == 0)
    # Presentation order is pts order; ties keep decode order (lexsort is stable).
    frame_packet = shown[np.lexsort((shown, pts[shown]))]
    return FrameTable(
        offset=np.array(cols.offset, dtype=np.int64),
        size=np.array(cols.size, dtype=np.uint32),
        pts=pts,
        dts=np.array(cols.dts, dtype=np.int64),
        flags=flags,
        crc32=np.array(cols.crc32, dtype=np.uint32),
        frame_packet=frame_packet.astype(np.uint32),
    )


def _codec_params(stream: av.VideoStream, name: str) -> CodecParams:
    cc = stream.codec_context
    if not cc.width or not cc.height or cc.pix_fmt is None:
        raise InvalidSampleError(f"{name}: the video stream has no picture size or pixel format")
    if cc.width > MAX_SIDE or cc.height > MAX_SIDE or cc.width * cc.height > MAX_PIXELS:
        # A damaged or hostile header must not make every read allocate gigabytes.
        raise InvalidSampleError(
            f"{name}: the picture size {cc.width}x{cc.height} is beyond what hubcli reads "
            f"(at most {MAX_SIDE} a side and {MAX_PIXELS} pixels)"
        )
    try:
        tag = cc.codec_tag.encode("latin-1")
    except (UnicodeDecodeError, UnicodeEncodeError):
        tag = b"\0\0\0\0"  # PyAV decodes tags as ASCII; a binary tag cannot be kept
    return CodecParams(
        name=cc.codec.canonical_name,
        tag=int.from_bytes(tag[:4].ljust(4, b"\0"), "little"),
        extradata=bytes(cc.extradata or b""),
        width=cc.width,
        height=cc.height,
        pix_fmt=cc.pix_fmt,
        color_range=int(cc.color_range),
        colorspace=int(cc.colorspace),
        color_primaries=int(cc.color_primaries),
        color_trc=int(cc.color_trc),
        bits_per_coded_sample=int(cc.bits_per_coded_sample),
        field_order=int(cc.field_order),
    )


def _fps(stream: av.VideoStream, table: FrameTable, time_base: Fraction) -> float:
    if stream.average_rate:
        return float(stream.average_rate)
    span = table.frame_pts[-1] - table.frame_pts[0] if table.frame_count > 1 else 0
    return float((table.frame_count - 1) / (span * time_base)) if span > 0 else 0.0


def _duration(stream: av.VideoStream, table: FrameTable, cols: _Columns) -> int:
    """The container's stream duration, else last frame end minus first frame start."""
    if stream.duration and stream.duration > 0:
        return int(stream.duration)
    frame_pts = table.frame_pts
    last = int(table.frame_packet[-1])
    step = cols.durations[last] or (int(np.diff(frame_pts)[-1]) if len(frame_pts) > 1 else 0)
    return int(frame_pts[-1] - frame_pts[0] + step)


def _check_matroska_length(head: bytes, size: int, fmt: str, name: str) -> None:
    """Matroska demuxers stop quietly at a cut; the Segment size tells the real end."""
    if fmt in ("mkv", "webm") and (end := matroska_declared_end(head)) is not None and size < end:
        raise InvalidSampleError(
            f"{name}: the file is truncated ({size} bytes, its header says {end})"
        )


def _check_decodes(
    indexed: IndexedVideo, opener: Callable[[], BinaryIO], size: int, name: str
) -> None:
    """Decode the first frame and the picture of the last keyframe: proves the codec
    parameters work and reaches the stream's last GOP, for the price of two intra
    pictures. (Decoding the last frame instead costs up to a whole GOP: 0.9 s for a
    1080p clip with a 300-frame GOP, ten times the copy and the demux together.) A
    damaged picture after the last keyframe is refused when a read decodes it, and
    ``hubcli verify --deep`` decodes every frame."""
    table = indexed.table
    keyframes = np.flatnonzero(table.keyframe[table.frame_packet])
    last = int(keyframes[-1]) if keyframes.size else table.frame_count - 1

    def read_packets(start: int, stop: int) -> Iterator[bytes]:
        with opener() as f:
            for i in range(start, stop):
                offset, length = int(table.offset[i]), int(table.size[i])
                if offset >= size:
                    lo = offset - size
                    yield indexed.supplement[lo : lo + length]
                else:
                    f.seek(offset)
                    yield f.read(length)

    runs = plan_runs(table, np.array([0, last]))
    for _, frame in decode_frames(indexed.codec, table, runs, read_packets, where=name):
        if frame.shape != indexed.shape[1:]:
            raise InvalidSampleError(
                f"{name}: a frame is {frame.shape[1]}x{frame.shape[0]}, the stream says "
                f"{indexed.codec.width}x{indexed.codec.height} (size changes are not supported)"
            )
