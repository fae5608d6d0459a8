"""Exporting frames as a clip (.mp4, .mkv, .webm): an exact re-encode of the selected
frames, or (``--copy``) the stored packets of whole GOPs, without re-encoding.

Re-encode: the clip holds exactly the selected frames, in selection order. Frames are
decoded in presentation order, so a selection that goes back (``::-1``, ``[5, 2]``) is
decoded one increasing stretch at a time, each from its keyframe. A selection whose
timestamps increase keeps them; any other is given evenly spaced ones (the sample's
usual frame duration) from its first frame's time, since a video's timestamps must
increase.

Copy: the packets from the keyframe the first selected frame needs to the end of the
GOP holding the last one, with their own timestamps; only a contiguous range can be
copied, and the clip's edges are those of its GOPs, not of the selection.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from hubcli.core.export import Written
from hubcli.errors import ExportError, InvalidSampleError
from hubcli.format.frames import NO_TIMESTAMP

if TYPE_CHECKING:
    from collections.abc import Iterator

    from hubcli.core.export import FrameProgress, SamplePlan, Staging
    from hubcli.core.packets import ByteSource
    from hubcli.core.sample import SampleView
    from hubcli.format.frames import FrameTable
    from hubcli.video.decode import Picture
    from hubcli.video.encode import StoredPacket


def write_clip(
    plan: SamplePlan,
    stage: Staging,
    size: tuple[int, int] | None,
    *,
    copy: bool,
    progress: FrameProgress,
) -> Written:
    """Write ``plan.view``'s frames as a ``plan.format`` clip (its size in bytes is
    that of the file)."""
    temp = stage.create(plan.path)
    if copy:
        written = _copy(plan.view, str(temp), plan.format, progress)
    else:
        written = _encode(plan.view, str(temp), plan.format, size, progress)
    return dataclasses.replace(written, nbytes=temp.stat().st_size)


# --- re-encode ----------------------------------------------------------------------------


def clip_pts(table: FrameTable, frames: np.ndarray) -> np.ndarray:
    """The clip's timestamps (time-base units) for ``frames``: their own when they
    increase, else evenly spaced from the first at the sample's median frame duration."""
    pts: np.ndarray = table.frame_pts[frames].astype(np.int64)
    if len(pts) < 2 or bool(np.all(np.diff(pts) > 0)):
        return pts
    spaced: np.ndarray = pts[0] + np.arange(len(pts), dtype=np.int64) * frame_step(table)
    return spaced


def frame_step(table: FrameTable) -> int:
    """The sample's usual frame duration in time-base units (the median step between
    presentation timestamps; at least 1)."""
    steps = np.diff(np.unique(table.frame_pts))
    return max(int(np.median(steps)), 1) if steps.size else 1


def stretches(frames: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """``frames`` cut where a frame number goes down: (offset, frames) pieces that
    decoding delivers in order."""
    cuts = [0, *(np.flatnonzero(np.diff(frames) < 0) + 1).tolist(), len(frames)]
    return [(a, frames[a:b]) for a, b in itertools.pairwise(cuts) if b > a]


def _encode(
    view: SampleView, path: str, fmt: str, size: tuple[int, int] | None, progress: FrameProgress
) -> Written:
    from hubcli.video.encode import ClipEncoder  # PyAV loads with the first export

    frames, _ = view.frame_positions()
    rec = view.record()
    table = view.tensor.reader().frame_table(view.index)
    time_base = Fraction(*rec.time_base)
    pts = clip_pts(table, frames)
    _, h, w, c = rec.shape
    if size is not None:
        h, w = size
    written = 0
    with ClipEncoder(path, fmt, w, h, time_base) as encoder:
        for offset, piece in stretches(frames):

            def put(positions: list[int], picture: Picture, offset: int = offset) -> None:
                nonlocal written
                rgb = picture.rgb()
                for pos in positions:
                    if offset + pos != written:  # decode_each's order is what makes a clip
                        raise InvalidSampleError(
                            f"{view.where}: frames were decoded out of order "
                            f"({offset + pos} after {written - 1})"
                        )
                    encoder.write(rgb, int(pts[offset + pos]))
                    written += 1
                progress(len(positions))

            view.decode_each(piece, put, size=size)
    num, den = rec.time_base
    return Written((len(frames), h, w, c), 0, pts.astype(np.float64) * num / den)


# --- stream copy ----------------------------------------------------------------------------


def copy_range(table: FrameTable, frames: np.ndarray, where: str) -> tuple[int, int]:
    """The packets ``[start, stop)`` a copy of ``frames`` takes: from the keyframe the
    first frame's decode starts at to the next keyframe after the last frame's packet."""
    from hubcli.video.plan import start_packets

    if frames.size == 0 or not bool(np.all(np.diff(frames) == 1)):
        raise ExportError(
            f"--copy needs a contiguous range of frames (step 1, increasing); "
            f"the selection of {where} is not one",
            hint="select e.g. 'videos[0, 100:200]', or drop --copy to re-encode these frames",
        )
    packets = table.frame_packet[frames].astype(np.int64)
    start = int(start_packets(table, frames).min())
    keys = np.flatnonzero(table.keyframe)
    after = keys[keys > packets.max()]
    return start, int(after[0]) if after.size else table.packet_count


def _copy(view: SampleView, path: str, fmt: str, progress: FrameProgress) -> Written:
    from hubcli.core.packets import RunPackets
    from hubcli.video.encode import copy_packets
    from hubcli.video.plan import Run

    frames, _ = view.frame_positions()
    reader = view.tensor.reader()
    rec = reader.locate(view.index).record
    table = reader.frame_table(view.index)
    start, stop = copy_range(table, frames, view.where)
    source = reader.byte_source(view.index)
    with RunPackets(source, table, [Run(start, stop, frozenset())]) as read_packets:
        copy_packets(
            _StoredFile(source, rec.size),
            path,
            fmt,
            _stored_packets(table, start, read_packets(start, stop), frame_step(table)),
            Fraction(*rec.time_base),
            where=view.where,
        )
    progress(len(frames))
    # The frames the clip holds: those whose packets it copied, in presentation order,
    # but for the leading pictures of an open GOP at its start (shown before its first
    # keyframe, they need the GOP before it, which the clip does not have).
    packet = table.frame_packet
    in_clip = np.flatnonzero(
        (packet >= start) & (packet < stop) & (table.frame_pts >= table.pts[start])
    )
    num, den = rec.time_base
    _, h, w, c = rec.shape
    seconds = table.frame_pts[in_clip].astype(np.float64) * num / den
    return Written((len(in_clip), h, w, c), 0, seconds)


def _stored_packets(
    table: FrameTable, start: int, data: Iterator[bytes], duration: int
) -> Iterator[StoredPacket]:
    """The packets with their timing. Frame tables keep no durations: each packet gets
    the usual frame duration, which MP4 needs for the last one (its edit list would
    otherwise end where that frame starts, and hide it)."""
    from hubcli.video.encode import StoredPacket

    for index, payload in enumerate(data, start):
        pts, dts = int(table.pts[index]), int(table.dts[index])
        yield StoredPacket(
            payload,
            None if pts == NO_TIMESTAMP else pts,
            None if dts == NO_TIMESTAMP else dts,
            bool(table.keyframe[index]),
            duration,
        )


class _StoredFile(io.RawIOBase):
    """The original file of a sample (bytes ``[0, size)`` of its source), as a seekable
    read-only file, so that FFmpeg can read its container header."""

    def __init__(self, source: ByteSource, size: int) -> None:
        super().__init__()
        self._source = source
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = max(0, min(len(buffer), self._size - self._pos))
        if n == 0:
            return 0
        data = self._source.read([(self._pos, self._pos + n)])[0]
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)
