"""Which H.264/HEVC packets no other picture needs (non-reference pictures), read from
the NAL unit headers. A run can skip such a packet when its own picture is not wanted:
by definition nothing decoded later refers to it, so every other picture is unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

# Codec name -> how to read its NAL headers.
_H264, _HEVC = "h264", "hevc"


def nal_length_size(codec: str, extradata: bytes) -> int | None:
    """Bytes of each NAL unit's length prefix (avcC/hvcC in MP4 and Matroska), or
    None for Annex B start codes, or 0 for a codec this module does not read."""
    if codec == _H264:
        if len(extradata) >= 7 and extradata[0] == 1:
            return (extradata[4] & 0x03) + 1
        return None
    if codec == _HEVC:
        if len(extradata) >= 23 and extradata[0] == 1:
            return (extradata[21] & 0x03) + 1
        return None
    return 0


def is_disposable(codec: str, packet: bytes, length_size: int | None) -> bool:
    """True if every picture slice in ``packet`` is a non-reference one."""
    if length_size == 0:
        return False
    seen_slice = False
    for header in _nal_headers(packet, length_size):
        if codec == _H264:
            kind, ref_idc = header[0] & 0x1F, (header[0] >> 5) & 0x03
            if 1 <= kind <= 5:
                if ref_idc:
                    return False
                seen_slice = True
        else:  # HEVC: VCL types 0-31; the even ones below 16 are sub-layer non-reference
            kind = (header[0] >> 1) & 0x3F
            if kind < 32:
                if kind >= 16 or kind % 2:
                    return False
                seen_slice = True
    return seen_slice


def _nal_headers(packet: bytes, length_size: int | None) -> Iterator[bytes]:
    """The first two bytes of each NAL unit."""
    n = len(packet)
    if length_size:
        pos = 0
        while pos + length_size <= n:
            size = int.from_bytes(packet[pos : pos + length_size], "big")
            start = pos + length_size
            if size < 1 or start + size > n:
                return
            yield packet[start : start + 2]
            pos = start + size
        return
    pos = packet.find(b"\x00\x00\x01")
    while 0 <= pos < n - 3:
        yield packet[pos + 3 : pos + 5]
        pos = packet.find(b"\x00\x00\x01", pos + 3)
