"""Which container a file is, from its first bytes (no demuxer needed).

FFmpeg reports one demuxer for MP4 and MOV ("mov,mp4,...") and one for Matroska and
WebM ("matroska,webm"); the tensor's ``sample_compression`` tells them apart, so we
read the ISO-BMFF major brand and the EBML DocType ourselves.
"""

from __future__ import annotations

SNIFF_BYTES = 4096


def sniff_container(head: bytes) -> str | None:
    """``"mp4"``, ``"mov"``, ``"mkv"``, ``"webm"``, ``"avi"`` or None if none of them."""
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
        return "avi"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        doctype = _ebml_doctype(head)
        return {"webm": "webm", "matroska": "mkv"}.get(doctype or "")
    if head[4:8] == b"ftyp":
        return "mov" if head[8:12] == b"qt  " else "mp4"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"):
        return "mov"  # QuickTime files from before 'ftyp' existed
    return None


def _ebml_doctype(head: bytes) -> str | None:
    """The DocType string of an EBML header (element ID 0x4282), if it is in ``head``."""
    size, pos = _read_vint(head, 4)
    if size is None:
        return None
    end = min(len(head), pos + size)
    while pos < end:
        element, pos = _read_id(head, pos)
        length, pos = _read_vint(head, pos)
        if element is None or length is None:
            return None
        if element == 0x4282:
            return head[pos : pos + length].rstrip(b"\x00").decode("ascii", "replace")
        pos += length
    return None


def matroska_declared_end(head: bytes) -> int | None:
    """Where the Segment element says the file ends, or None if its size is unknown
    (live streams) or not in ``head``. A file shorter than that is truncated."""
    size, pos = _read_vint(head, 4)
    if size is None:
        return None
    pos += size  # skip the EBML header
    element, pos = _read_id(head, pos)
    if element != 0x18538067:
        return None
    length, pos = _read_vint(head, pos)
    return None if length is None else pos + length


def _read_id(data: bytes, pos: int) -> tuple[int | None, int]:
    if pos >= len(data):
        return None, pos
    first = data[pos]
    width = next((i + 1 for i in range(4) if first & (0x80 >> i)), 0)
    if not width or pos + width > len(data):
        return None, pos
    return int.from_bytes(data[pos : pos + width], "big"), pos + width


def _read_vint(data: bytes, pos: int) -> tuple[int | None, int]:
    """An EBML variable-size integer; None if it is cut off or means 'unknown size'."""
    if pos >= len(data):
        return None, pos
    first = data[pos]
    width = next((i + 1 for i in range(8) if first & (0x80 >> i)), 0)
    if not width or pos + width > len(data):
        return None, pos
    value = int.from_bytes(data[pos : pos + width], "big") & ((1 << (7 * width)) - 1)
    if value == (1 << (7 * width)) - 1:  # all ones: "unknown size"
        return None, pos + width
    return value, pos + width
