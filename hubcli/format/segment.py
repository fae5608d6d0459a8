"""Segment objects: the samples one commit added to a tensor (format_spec/segments.md).

Layout of a segment object::

    offset  size  field
    0       8     magic  b"HUBCSEG1"
    8       8     H, uint64 little-endian: length of the header
    16      H     header: msgpack map {"chunks": [...], "samples": [...]}
    16+H    ...   frame tables, one per sample; a record's ``frames_offset`` counts
                  from byte 16+H

The manifest stores ``header_size = 16 + H`` and the SHA-256 of those bytes, so a
reader fetches and verifies the header with one ranged read.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import msgpack

from hubcli.errors import CorruptDatasetError
from hubcli.format import keys
from hubcli.format.limits import (
    MAX_FRAME_TABLE_BYTES,
    MAX_INT,
    MAX_PIXELS,
    MAX_SEGMENT_HEADER_BYTES,
    MAX_SIDE,
    max_frames,
)
from hubcli.format.manifest import SAMPLE_COMPRESSIONS
from hubcli.format.names import CREDS_ENV_KEY, CREDS_KEY_RE
from hubcli.format.validate import as_map, field, int_list, non_negative

if TYPE_CHECKING:
    from collections.abc import Mapping

SEGMENT_MAGIC = b"HUBCSEG1"  # format 1.0/1.1: header checked by the SHA-256 its reference holds
SEGMENT_MAGIC_V2 = b"HUBCSEG2"  # format 1.2: header checked by the CRC-32 in its prefix
CHUNK_MAGIC = b"HUBCCHK1"
PREFIX = struct.Struct("<8sQ")
PREFIX_SIZE = PREFIX.size  # 16
PREFIX_V2 = struct.Struct("<8sQI")
PREFIX_V2_SIZE = PREFIX_V2.size  # 20


@dataclass(frozen=True, slots=True)
class CodecParams:
    """What a decoder needs to be built without the container (format_spec/segments.md §4)."""

    name: str
    tag: int
    extradata: bytes
    width: int
    height: int
    pix_fmt: str
    color_range: int = 0
    colorspace: int = 2
    color_primaries: int = 2
    color_trc: int = 2
    bits_per_coded_sample: int = 0
    field_order: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tag": self.tag,
            "extradata": self.extradata,
            "width": self.width,
            "height": self.height,
            "pix_fmt": self.pix_fmt,
            "color_range": self.color_range,
            "colorspace": self.colorspace,
            "color_primaries": self.color_primaries,
            "color_trc": self.color_trc,
            "bits_per_coded_sample": self.bits_per_coded_sample,
            "field_order": self.field_order,
        }

    @classmethod
    def from_dict(cls, data: object, where: str) -> CodecParams:
        obj = as_map(data, where)
        return cls(
            name=field(obj, "name", str, where),
            tag=_fourcc(obj, where),
            extradata=field(obj, "extradata", bytes, where),
            width=non_negative(obj, "width", where),
            height=non_negative(obj, "height", where),
            pix_fmt=field(obj, "pix_fmt", str, where),
            color_range=non_negative(obj, "color_range", where),
            colorspace=non_negative(obj, "colorspace", where),
            color_primaries=non_negative(obj, "color_primaries", where),
            color_trc=non_negative(obj, "color_trc", where),
            bits_per_coded_sample=non_negative(obj, "bits_per_coded_sample", where),
            field_order=non_negative(obj, "field_order", where),
        )


def _fourcc(obj: Mapping[str, Any], where: str) -> int:
    tag = non_negative(obj, "tag", where)
    if tag > 0xFFFFFFFF:
        raise CorruptDatasetError(f"{where}: tag must fit in 32 bits")
    return tag


@dataclass(frozen=True, slots=True)
class ChunkRef:
    """A chunk object one or more samples of the segment live in. ``sha256`` is set
    for chunks of 1.0/1.1 segments only (1.2 checks each sample's SHA-256 instead)."""

    key: str
    size: int
    sha256: bytes | None = None

    @property
    def id(self) -> str:
        return self.key.rsplit("/", 1)[-1].removesuffix(".chunk")

    def to_list(self) -> list[Any]:
        """A 1.2 chunk reference: ``[id (16 bytes), size]`` (it is in every segment of a
        one-sample commit, so its bytes are bytes per commit)."""
        return [bytes.fromhex(self.id), self.size]


@dataclass(frozen=True, slots=True)
class LinkInfo:
    """Where a linked video lives and how to check it is the one that was indexed
    (format_spec/links.md §2). ``creds_key`` is a key *name*, or None, or "ENV"."""

    url: str
    creds_key: str | None
    etag: str | None
    modified: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "creds_key": self.creds_key,
            "etag": self.etag,
            "modified": self.modified,
        }

    @classmethod
    def from_dict(cls, data: object, where: str) -> LinkInfo:
        obj = as_map(data, where)
        values = {}
        for name in ("creds_key", "etag", "modified"):
            value = obj.get(name)
            if value is not None and not isinstance(value, str):
                raise CorruptDatasetError(f"{where}: field {name!r} must be a string or nil")
            values[name] = value
        return cls(
            field(obj, "url", str, where), values["creds_key"], values["etag"], values["modified"]
        )


@dataclass(frozen=True, slots=True)
class SampleRecord:
    """One video: where its bytes and frame table are, and its metadata. A stored video
    has a ``chunk``; a linked one has ``link`` instead (its offsets count from the start
    of the linked object)."""

    chunk: int | None
    offset: int
    size: int
    extra_size: int
    sha256: bytes
    frames_offset: int
    frames_size: int
    frames_crc32: int
    filename: str
    format: str
    shape: tuple[int, int, int, int]
    fps: float
    time_base: tuple[int, int]
    duration: int
    codec: CodecParams
    link: LinkInfo | None = None

    def to_dict(self) -> dict[str, Any]:
        body = {
            "offset": self.offset,
            "size": self.size,
            "extra_size": self.extra_size,
            "sha256": self.sha256,
            "frames_offset": self.frames_offset,
            "frames_size": self.frames_size,
            "frames_crc32": self.frames_crc32,
            "filename": self.filename,
            "format": self.format,
            "shape": list(self.shape),
            "fps": self.fps,
            "time_base": list(self.time_base),
            "duration": self.duration,
            "codec": self.codec.to_dict(),
        }
        if self.chunk is not None:
            body["chunk"] = self.chunk
        if self.link is not None:
            body["link"] = self.link.to_dict()
        return body


@dataclass(frozen=True, slots=True)
class SegmentHeader:
    chunks: tuple[ChunkRef, ...]
    samples: tuple[SampleRecord, ...]


def encode_segment(
    directory: str,
    chunks: list[ChunkRef],
    samples: list[SampleRecord],
    frame_tables: list[bytes],
) -> tuple[bytes, int]:
    """A 1.2 segment object (``HUBCSEG2``) and its ``header_size``, from records whose
    ``frames_*`` fields are filled in here. ``directory`` is the tensor's folder: every
    chunk must be in it.

    ``frames_offset`` counts from the end of the header (byte ``header_size``), so the
    header never has to hold its own size.
    """
    for chunk in chunks:
        if not keys.is_object_key_of(directory, chunk.key, "chunks"):
            raise ValueError(f"{chunk.key} is not a chunk of {directory}")
    located, position = [], 0
    for record, blob in zip(samples, frame_tables, strict=True):
        crc = zlib.crc32(blob) & 0xFFFFFFFF
        located.append(
            replace(record, frames_offset=position, frames_size=len(blob), frames_crc32=crc)
        )
        position += len(blob)
    header = _pack_header(chunks, located)
    prefix = PREFIX_V2.pack(SEGMENT_MAGIC_V2, len(header), zlib.crc32(header) & 0xFFFFFFFF)
    return prefix + header + b"".join(frame_tables), len(prefix) + len(header)


def _pack_header(chunks: list[ChunkRef], samples: list[SampleRecord]) -> bytes:
    body = {"chunks": [c.to_list() for c in chunks], "samples": [s.to_dict() for s in samples]}
    packed: bytes = msgpack.packb(body, use_bin_type=True)
    return packed


def record_size(record: SampleRecord) -> int:
    """The bytes a record takes in a segment header."""
    return len(msgpack.packb(record.to_dict(), use_bin_type=True))


def header_digest(header_bytes: bytes) -> str:
    return hashlib.sha256(header_bytes).hexdigest()


def parse_segment_header(
    data: bytes,
    expected_sha256: str | None,
    directory: str,
    compression: str | None,
    where: str,
    *,
    linked: bool = False,
) -> SegmentHeader:
    """Parse ``data`` = the first ``header_size`` bytes of a segment of the tensor whose
    objects are in ``tensors/<directory>/``: a 1.0/1.1 segment (``HUBCSEG1``, checked
    against ``expected_sha256``) or a 1.2 one (``HUBCSEG2``, checked by its own CRC-32).
    Every record is checked against the tensor's compression (None: any container) and
    kind (``linked``: link records, else stored videos)."""
    magic = data[:8]
    if magic == SEGMENT_MAGIC and expected_sha256 is not None:
        if header_digest(data) != expected_sha256:
            raise CorruptDatasetError(f"{where}: segment header checksum mismatch")
        body = _body(
            data,
            PREFIX.unpack_from(data)[1] if len(data) >= PREFIX_SIZE else -1,
            PREFIX_SIZE,
            where,
        )
        legacy = True
    elif magic == SEGMENT_MAGIC_V2 and expected_sha256 is None:
        if len(data) < PREFIX_V2_SIZE:
            raise CorruptDatasetError(f"{where}: segment is shorter than its prefix")
        _, header_len, crc = PREFIX_V2.unpack_from(data)
        body = _body(data, header_len, PREFIX_V2_SIZE, where)
        if zlib.crc32(body) & 0xFFFFFFFF != crc:
            raise CorruptDatasetError(f"{where}: segment header checksum mismatch")
        legacy = False
    else:
        raise CorruptDatasetError(f"{where}: bad segment magic {magic!r} for its reference")
    try:
        # unpackb sizes msgpack's length limits to the input (Unpacker's default cap of
        # 100 MiB would refuse big headers) and rejects bytes after the map (ExtraData).
        raw = msgpack.unpackb(body, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types on bad input
        raise CorruptDatasetError(f"{where}: segment header is not valid msgpack ({exc})") from None
    obj = as_map(raw, where)
    parse_chunk = _parse_legacy_chunk_ref if legacy else _parse_chunk_ref
    chunks = tuple(
        parse_chunk(c, directory, f"{where} chunk #{i}")
        for i, c in enumerate(field(obj, "chunks", list, where))
    )
    if linked and chunks:
        raise CorruptDatasetError(f"{where}: a link tensor's segment has no chunks")
    samples = tuple(
        _parse_sample(s, chunks, compression, linked, f"{where} sample #{i}")
        for i, s in enumerate(field(obj, "samples", list, where))
    )
    return SegmentHeader(chunks, samples)


def _body(data: bytes, header_len: int, prefix_size: int, where: str) -> bytes:
    """The msgpack header after the prefix; its length must be the one the reference
    and the prefix say, and within the format's limit."""
    if header_len < 0 or prefix_size + header_len > MAX_SEGMENT_HEADER_BYTES:
        raise CorruptDatasetError(f"{where}: segment header beyond the format's size limit")
    if prefix_size + header_len != len(data):
        raise CorruptDatasetError(f"{where}: segment header length disagrees with its reference")
    return data[prefix_size:]


def _parse_legacy_chunk_ref(value: object, directory: str, where: str) -> ChunkRef:
    obj = as_map(value, where)
    sha = field(obj, "sha256", bytes, where)
    if len(sha) != 32:
        raise CorruptDatasetError(f"{where}: sha256 must be 32 bytes")
    key = field(obj, "key", str, where)
    # A damaged header must not send readers to any other object of the dataset.
    if not keys.is_object_key_of(directory, key, "chunks"):
        raise CorruptDatasetError(f"{where}: {key!r} is not a chunk key of tensor {directory!r}")
    return ChunkRef(key, non_negative(obj, "size", where), sha)


def _parse_chunk_ref(value: object, directory: str, where: str) -> ChunkRef:
    """``[id, size]``: a chunk of the tensor's folder (a 1.2 header cannot name any
    other object of the dataset)."""
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], bytes)):
        raise CorruptDatasetError(f"{where}: a chunk reference is [id, size]")
    chunk_id, size = value
    if len(chunk_id) != 16 or type(size) is not int or not 0 <= size <= MAX_INT:
        raise CorruptDatasetError(f"{where}: id must be 16 bytes and size an int64 >= 0")
    return ChunkRef(keys.chunk_key(directory, chunk_id.hex()), size)


def _parse_sample(
    value: object,
    chunks: tuple[ChunkRef, ...],
    compression: str | None,
    linked: bool,
    where: str,
) -> SampleRecord:
    obj = as_map(value, where)
    chunk, link = None, None
    if linked:
        if "chunk" in obj or obj.get("offset") != 0 or obj.get("extra_size") != 0:
            raise CorruptDatasetError(
                f"{where}: a link sample has no chunk, offset 0, extra_size 0"
            )
        link = LinkInfo.from_dict(field(obj, "link", dict, where), f"{where} link")
        key = link.creds_key
        if key is not None and key != CREDS_ENV_KEY and not CREDS_KEY_RE.fullmatch(key):
            raise CorruptDatasetError(f"{where}: invalid creds key name {key!r}")
    else:
        chunk = non_negative(obj, "chunk", where)
        if chunk >= len(chunks):
            raise CorruptDatasetError(f"{where}: chunk index {chunk} out of range")
    sha = field(obj, "sha256", bytes, where)
    if len(sha) != 32:
        raise CorruptDatasetError(f"{where}: sha256 must be 32 bytes")
    shape = int_list(obj, "shape", 4, where)
    time_base = int_list(obj, "time_base", 2, where)
    if min(shape) < 0 or shape[3] != 3 or time_base[0] <= 0 or time_base[1] <= 0:
        raise CorruptDatasetError(f"{where}: invalid shape or time_base")
    fmt = field(obj, "format", str, where)
    if fmt != compression and not (compression is None and fmt in SAMPLE_COMPRESSIONS):
        raise CorruptDatasetError(f"{where}: format {fmt!r} is not the tensor's {compression!r}")
    record = SampleRecord(
        chunk=chunk,
        offset=non_negative(obj, "offset", where),
        size=non_negative(obj, "size", where),
        extra_size=non_negative(obj, "extra_size", where),
        sha256=sha,
        frames_offset=non_negative(obj, "frames_offset", where),
        frames_size=non_negative(obj, "frames_size", where),
        frames_crc32=non_negative(obj, "frames_crc32", where),
        filename=field(obj, "filename", str, where),
        format=fmt,
        shape=(shape[0], shape[1], shape[2], shape[3]),
        fps=field(obj, "fps", float, where),
        time_base=(time_base[0], time_base[1]),
        duration=field(obj, "duration", int, where),
        codec=CodecParams.from_dict(field(obj, "codec", dict, where), f"{where} codec"),
        link=link,
    )
    if record.duration < 0 or (record.shape[1], record.shape[2]) != (
        record.codec.height,
        record.codec.width,
    ):
        raise CorruptDatasetError(f"{where}: negative duration, or shape disagrees with the codec")
    _check_sizes(record, chunks, where)
    return record


def _check_sizes(record: SampleRecord, chunks: tuple[ChunkRef, ...], where: str) -> None:
    """Declared sizes against the format's limits and against the bytes that must back
    them (format_spec/limits.md), before anything is allocated from them."""
    frames, height, width, _ = record.shape
    if height > MAX_SIDE or width > MAX_SIDE or height * width > MAX_PIXELS:
        raise CorruptDatasetError(f"{where}: picture size {width}x{height} beyond the limit")
    if record.frames_size > MAX_FRAME_TABLE_BYTES or frames > max_frames(record.frames_size):
        raise CorruptDatasetError(
            f"{where}: {frames} frames cannot fit a {record.frames_size}-byte frame table"
        )
    if record.fps < 0:
        raise CorruptDatasetError(f"{where}: negative fps")
    if record.chunk is not None:
        end = record.offset + record.size + record.extra_size
        if end > chunks[record.chunk].size:
            raise CorruptDatasetError(f"{where}: the sample's bytes run past its chunk")
