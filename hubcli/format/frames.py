"""The per-video frame table: every packet's place, timing and flags, and the
presentation order of frames (format_spec/frames.md).

Stored as a msgpack map whose columns are little-endian binary arrays, so a reader
turns each into an array with one ``frombuffer`` call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgpack

from hubcli.errors import CorruptDatasetError
from hubcli.format.validate import as_map, field, non_negative

if TYPE_CHECKING:
    # numpy is imported by the functions that use it: `hubcli.load` and `hubcli info`
    # start without it (issue #15, tests/cli/test_startup.py).
    import numpy as np

FLAG_KEYFRAME = 0x01
FLAG_DISCARD = 0x02
KNOWN_FLAGS = FLAG_KEYFRAME | FLAG_DISCARD
NO_TIMESTAMP = -(2**63)

# Column name -> little-endian dtype, and whether its length is the packet count ("p")
# or the frame count ("f").
COLUMNS: dict[str, tuple[str, str]] = {
    "offset": ("<i8", "p"),
    "size": ("<u4", "p"),
    "pts": ("<i8", "p"),
    "dts": ("<i8", "p"),
    "flags": ("<u1", "p"),
    "crc32": ("<u4", "p"),
    "frame_packet": ("<u4", "f"),
}


@dataclass(frozen=True, slots=True, eq=False)
class FrameTable:
    """Columns indexed by packet (decode order), plus ``frame_packet`` indexed by frame.

    ``frame_packet[k]`` is the decode-order index of the packet whose picture is frame
    ``k`` (presentation order); frame ``k``'s pts is ``pts[frame_packet[k]]``.
    """

    offset: np.ndarray
    size: np.ndarray
    pts: np.ndarray
    dts: np.ndarray
    flags: np.ndarray
    crc32: np.ndarray
    frame_packet: np.ndarray

    @property
    def packet_count(self) -> int:
        return len(self.offset)

    @property
    def frame_count(self) -> int:
        return len(self.frame_packet)

    @property
    def frame_pts(self) -> np.ndarray:
        pts: np.ndarray = self.pts[self.frame_packet]
        return pts

    @property
    def keyframe(self) -> np.ndarray:
        mask: np.ndarray = (self.flags & FLAG_KEYFRAME) != 0
        return mask

    def data_end(self) -> int:
        """One past the last byte any packet occupies (relative to the sample start)."""
        import numpy as np

        if self.packet_count == 0:
            return 0
        return int((self.offset + self.size.astype(np.int64)).max())


def encode_frame_table(table: FrameTable) -> bytes:
    import numpy as np

    body: dict[str, Any] = {
        "packets": table.packet_count,
        "frames": table.frame_count,
    }
    for name, (dtype, _) in COLUMNS.items():
        body[name] = np.ascontiguousarray(getattr(table, name), dtype=dtype).tobytes()
    packed: bytes = msgpack.packb(body, use_bin_type=True)
    return packed


def decode_frame_table(data: bytes, where: str) -> FrameTable:
    """Parse a frame table and check every invariant of format_spec/frames.md §3."""
    import numpy as np

    try:
        raw = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types on bad input
        raise CorruptDatasetError(f"{where}: frame table is not valid msgpack ({exc})") from None
    obj = as_map(raw, where)
    counts = {"p": non_negative(obj, "packets", where), "f": non_negative(obj, "frames", where)}
    columns: dict[str, np.ndarray] = {}
    for name, (dtype, unit) in COLUMNS.items():
        blob = field(obj, name, bytes, where)
        itemsize = np.dtype(dtype).itemsize
        if len(blob) != counts[unit] * itemsize:
            raise CorruptDatasetError(f"{where}: column {name!r} has the wrong length")
        columns[name] = np.frombuffer(blob, dtype=dtype).astype(dtype[1:])
    table = FrameTable(**columns)
    check_frame_table(table, where)
    return table


def check_frame_table(table: FrameTable, where: str) -> None:
    """Invariants a reader relies on; violating any means the table is corrupt."""
    import numpy as np

    n = table.packet_count
    if np.any(table.offset < 0):
        raise CorruptDatasetError(f"{where}: negative packet offset")
    if np.any(table.flags & ~np.uint8(KNOWN_FLAGS)):
        raise CorruptDatasetError(f"{where}: unknown packet flag bits")
    fp = table.frame_packet.astype(np.int64)
    if fp.size and (fp.max() >= n or len(np.unique(fp)) != fp.size):
        raise CorruptDatasetError(f"{where}: frame_packet is not a set of packet indices")
    if np.any(table.flags[fp] & FLAG_DISCARD):
        raise CorruptDatasetError(f"{where}: a frame points at a discarded packet")
    if fp.size != int(np.count_nonzero((table.flags & FLAG_DISCARD) == 0)):
        raise CorruptDatasetError(f"{where}: frames and non-discarded packets differ in number")
    if np.any(table.pts[fp] == NO_TIMESTAMP) or np.any(np.diff(table.pts[fp]) < 0):
        raise CorruptDatasetError(f"{where}: frame timestamps are missing or out of order")
