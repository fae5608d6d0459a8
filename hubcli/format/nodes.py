"""Node objects: sealed parts of a tensor's segment tree (format_spec/log.md §4).

Layout::

    offset  size  field
    0       8     magic b"HUBCNOD1"
    8       4     CRC-32 of the body, uint32 little-endian
    12      ...   body: msgpack array [level, entries]

Level-0 entries are ``[id (16 bytes), count, header_size, size, sha256 (32 bytes) or
nil]``; higher levels hold ``[id (16 bytes), count]``.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import msgpack

from hubcli.errors import CorruptDatasetError
from hubcli.format.layout import Entry, Node, NodePointer, SegmentEntry
from hubcli.format.limits import MAX_INT

NODE_MAGIC = b"HUBCNOD1"
_PREFIX = struct.Struct("<8sI")
#: The most entries a node may hold (fanouts above it are refused).
MAX_NODE_ENTRIES = 4096


def encode_node(node: Node) -> bytes:
    entries = [_encode_entry(e) for e in node.entries]
    body: bytes = msgpack.packb([node.level, entries], use_bin_type=True)
    return _PREFIX.pack(NODE_MAGIC, zlib.crc32(body) & 0xFFFFFFFF) + body


def _encode_entry(entry: Entry) -> list[Any]:
    if isinstance(entry, SegmentEntry):
        sha = bytes.fromhex(entry.sha256) if entry.sha256 else None
        return [bytes.fromhex(entry.id), entry.count, entry.header_size, entry.size, sha]
    return [bytes.fromhex(entry.id), entry.count]


def parse_node(data: bytes, level: int, count: int, where: str) -> Node:
    """Parse a node that its parent says is at ``level`` and holds ``count`` samples."""
    if len(data) < _PREFIX.size:
        raise CorruptDatasetError(f"{where}: node is shorter than its prefix")
    magic, crc = _PREFIX.unpack_from(data)
    body = data[_PREFIX.size :]
    if magic != NODE_MAGIC:
        raise CorruptDatasetError(f"{where}: bad node magic {magic!r}")
    if zlib.crc32(body) & 0xFFFFFFFF != crc:
        raise CorruptDatasetError(f"{where}: node checksum mismatch")
    try:
        raw = msgpack.unpackb(body, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types on bad input
        raise CorruptDatasetError(f"{where}: node is not valid msgpack ({exc})") from None
    if not (isinstance(raw, list) and len(raw) == 2 and raw[0] == level):
        raise CorruptDatasetError(f"{where}: node is not [level {level}, entries]")
    if not isinstance(raw[1], list) or not 0 < len(raw[1]) <= MAX_NODE_ENTRIES:
        raise CorruptDatasetError(f"{where}: node entries must be 1..{MAX_NODE_ENTRIES}")
    entries = tuple(_parse_entry(e, level, f"{where} entry #{i}") for i, e in enumerate(raw[1]))
    node = Node(level, entries)
    if node.count != count:
        raise CorruptDatasetError(f"{where}: holds {node.count} samples, its parent says {count}")
    return node


def _parse_entry(value: object, level: int, where: str) -> Entry:
    size = 5 if level == 0 else 2
    if not isinstance(value, list) or len(value) != size:
        raise CorruptDatasetError(f"{where}: expected {size} fields")
    raw_id, *numbers = value[:4] if level == 0 else value
    if not isinstance(raw_id, bytes) or len(raw_id) != 16:
        raise CorruptDatasetError(f"{where}: id must be 16 bytes")
    if not all(type(n) is int and 0 < n <= MAX_INT for n in numbers):
        raise CorruptDatasetError(f"{where}: counts and sizes must be positive 64-bit integers")
    if level > 0:
        return NodePointer(raw_id.hex(), numbers[0])
    sha = value[4]
    if sha is not None and not (isinstance(sha, bytes) and len(sha) == 32):
        raise CorruptDatasetError(f"{where}: sha256 must be 32 bytes or nil")
    return SegmentEntry(
        raw_id.hex(), numbers[0], numbers[1], numbers[2], sha.hex() if sha else None
    )
