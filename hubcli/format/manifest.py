"""The version manifest: the whole state of a dataset at one version (format_spec/metadata.md).

A manifest is a UTF-8 JSON object stored at ``versions/<20 digits>.json``. It is the
only file ever created to commit a change, so it is also the commit record.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from hubcli.errors import CorruptDatasetError, UnsupportedFormatError, UnsupportedHtypeError
from hubcli.format import keys
from hubcli.format.limits import (
    MAX_JSON_INT_DIGITS,
    MAX_MANIFEST_BYTES,
    MAX_SEGMENT_HEADER_BYTES,
    max_samples,
)
from hubcli.format.validate import as_map, field, non_negative
from hubcli.format.version import (
    BASE_VERSION,
    FORMAT_NAME,
    check_readable,
    parse_format_version,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

VIDEO = "video"
LINK_VIDEO = "link[video]"
HTYPES = (VIDEO, LINK_VIDEO)
SAMPLE_COMPRESSIONS = ("mp4", "mov", "mkv", "webm", "avi")
TENSOR_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
CREDS_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
_SHA256_HEX_RE = re.compile(r"^[0-9a-f]{64}$")
_DATASET_ID_RE = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True, slots=True)
class SegmentRef:
    """Where one commit's samples of a tensor are described (a segment object)."""

    key: str
    first: int
    count: int
    size: int
    header_size: int
    header_sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "first": self.first,
            "count": self.count,
            "size": self.size,
            "header_size": self.header_size,
            "header_sha256": self.header_sha256,
        }


@dataclass(frozen=True, slots=True)
class CredsKey:
    """A credentials key *name* (format_spec/links.md §3); secrets are never stored."""

    name: str
    managed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "managed": self.managed}


@dataclass(frozen=True, slots=True)
class TensorMeta:
    """One tensor: its type, compression, length and the segments holding its samples.

    ``sample_compression`` is None only for a link tensor that takes any container.
    """

    name: str
    htype: str
    sample_compression: str | None
    length: int
    segments: tuple[SegmentRef, ...] = ()

    def with_segment(
        self, key: str, count: int, size: int, header_size: int, sha: str
    ) -> TensorMeta:
        """This tensor with ``count`` more samples described by the segment at ``key``."""
        ref = SegmentRef(key, self.length, count, size, header_size, sha)
        return replace(self, length=self.length + count, segments=(*self.segments, ref))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "htype": self.htype,
            "sample_compression": self.sample_compression,
            "length": self.length,
            "segments": [s.to_dict() for s in self.segments],
        }


@dataclass(frozen=True, slots=True)
class Manifest:
    """The complete, immutable state of a dataset at ``version``."""

    dataset_id: str
    version: int
    created_at: str
    tensors: tuple[TensorMeta, ...] = ()
    format_version: str = "1.0"
    creds_keys: tuple[CredsKey, ...] = ()

    def tensor(self, name: str) -> TensorMeta | None:
        return next((t for t in self.tensors if t.name == name), None)

    def with_tensor(self, meta: TensorMeta) -> Manifest:
        """This manifest with ``meta`` replacing the tensor of the same name, or added last."""
        names = [t.name for t in self.tensors]
        if meta.name in names:
            tensors = tuple(meta if t.name == meta.name else t for t in self.tensors)
        else:
            tensors = (*self.tensors, meta)
        return replace(self, tensors=tensors)

    def creds_key(self, name: str) -> CredsKey | None:
        return next((k for k in self.creds_keys if k.name == name), None)

    def required_version(self) -> tuple[int, int]:
        """The lowest format version that can describe this manifest."""
        if self.creds_keys or any(t.htype == LINK_VIDEO for t in self.tensors):
            return (1, 1)
        return BASE_VERSION

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "format": FORMAT_NAME,
            "format_version": self.format_version,
            "dataset_id": self.dataset_id,
            "version": self.version,
            "created_at": self.created_at,
            "tensors": [t.to_dict() for t in self.tensors],
        }
        if self.creds_keys:  # format 1.1; absent means none
            body["creds_keys"] = [k.to_dict() for k in self.creds_keys]
        return body


def validate_tensor_name(name: object) -> str:
    """Tensor names become key segments and Python attributes, so they are restricted."""
    from hubcli.errors import InvalidNameError

    if not isinstance(name, str) or not TENSOR_NAME_RE.fullmatch(name):
        raise InvalidNameError(
            f"invalid tensor name {name!r}",
            hint="use 1-64 letters, digits, '_' or '-', starting with a letter or '_'",
        )
    return name


def validate_htype(htype: object, compression: object) -> tuple[str, str | None]:
    """``(htype, compression)``; compression None means mp4 for videos and any
    container for links."""
    if htype not in HTYPES:
        raise UnsupportedHtypeError(
            f"unknown htype {htype!r}", hint=f"use one of: {', '.join(HTYPES)}"
        )
    if compression is None:
        return str(htype), ("mp4" if htype == VIDEO else None)
    if compression not in SAMPLE_COMPRESSIONS:
        raise UnsupportedHtypeError(
            f"unknown sample_compression {compression!r} for htype {htype!r}",
            hint=f"use one of: {', '.join(SAMPLE_COMPRESSIONS)}",
        )
    return str(htype), str(compression)


def encode_manifest(manifest: Manifest) -> bytes:
    return (json.dumps(manifest.to_dict(), indent=1, ensure_ascii=False) + "\n").encode()


def load_json(data: bytes, where: str) -> object:
    """Strict JSON for dataset files (format_spec/limits.md): at most
    MAX_MANIFEST_BYTES, no repeated keys, no NaN/Infinity, integers of at most
    MAX_JSON_INT_DIGITS digits, nesting no deeper than the parser's recursion limit."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise CorruptDatasetError(
            f"{where}: is larger than the format's limit of {MAX_MANIFEST_BYTES} bytes"
        )
    try:
        return json.loads(
            data.decode("utf-8"),
            object_pairs_hook=lambda pairs: _unique_keys(pairs, where),
            parse_constant=lambda name: _refuse(f"{name} is not a JSON number", where),
            parse_int=lambda digits: _bounded_int(digits, where),
        )
    except UnicodeDecodeError as exc:
        raise CorruptDatasetError(f"{where}: not valid JSON (bad UTF-8: {exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise CorruptDatasetError(f"{where}: not valid JSON ({exc})") from None
    except RecursionError:
        # The C parser recurses once a level and stops cleanly at the interpreter's
        # limit; the format nests 4 levels.
        raise CorruptDatasetError(f"{where}: JSON nested too deeply") from None


def _unique_keys(pairs: list[tuple[str, Any]], where: str) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise CorruptDatasetError(f"{where}: key {key!r} repeats in a JSON object")
        obj[key] = value
    return obj


def _bounded_int(digits: str, where: str) -> int:
    if len(digits.lstrip("-")) > MAX_JSON_INT_DIGITS:
        raise CorruptDatasetError(f"{where}: an integer of {len(digits)} digits")
    return int(digits)


def _refuse(reason: str, where: str) -> Any:
    raise CorruptDatasetError(f"{where}: {reason}")


def parse_manifest(data: bytes, where: str) -> Manifest:
    """Parse and validate a manifest's bytes; ``where`` names the file in errors."""
    obj = as_map(load_json(data, where), where)
    if obj.get("format") != FORMAT_NAME:
        raise CorruptDatasetError(f"{where}: field 'format' must be {FORMAT_NAME!r}")
    fmt = field(obj, "format_version", str, where)
    check_readable(parse_format_version(fmt, where), where)
    dataset_id = field(obj, "dataset_id", str, where)
    if not _DATASET_ID_RE.fullmatch(dataset_id):
        raise CorruptDatasetError(f"{where}: dataset_id must be 32 lowercase hex digits")
    tensors = tuple(
        _parse_tensor(t, f"{where} tensor #{i}")
        for i, t in enumerate(field(obj, "tensors", list, where))
    )
    names = [t.name for t in tensors]
    if len(set(names)) != len(names):
        raise CorruptDatasetError(f"{where}: duplicate tensor names")
    raw_keys = obj.get("creds_keys", [])  # format 1.1; absent means none
    if not isinstance(raw_keys, list):
        raise CorruptDatasetError(f"{where}: field 'creds_keys' must be a list")
    creds_keys = tuple(
        _parse_creds_key(k, f"{where} creds key #{i}") for i, k in enumerate(raw_keys)
    )
    if len({k.name for k in creds_keys}) != len(creds_keys):
        raise CorruptDatasetError(f"{where}: duplicate creds key names")
    return Manifest(
        dataset_id=dataset_id,
        version=non_negative(obj, "version", where),
        created_at=field(obj, "created_at", str, where),
        tensors=tensors,
        format_version=fmt,
        creds_keys=creds_keys,
    )


def _parse_creds_key(value: object, where: str) -> CredsKey:
    obj = as_map(value, where)
    name = field(obj, "name", str, where)
    if not CREDS_KEY_RE.fullmatch(name) or name == "ENV":
        raise CorruptDatasetError(f"{where}: invalid creds key name {name!r}")
    return CredsKey(name, field(obj, "managed", bool, where))


def _parse_tensor(value: object, where: str) -> TensorMeta:
    obj = as_map(value, where)
    name = field(obj, "name", str, where)
    if not TENSOR_NAME_RE.fullmatch(name):
        raise CorruptDatasetError(f"{where}: invalid tensor name {name!r}")
    htype = field(obj, "htype", str, where)
    if htype not in HTYPES:
        # format_spec/versioning.md §2: an unknown htype is never guessed at.
        raise UnsupportedFormatError(
            f"{where}: tensor {name!r} has htype {htype!r}, unknown to this hubcli",
            hint="upgrade hubcli (pip install -U hubcli)",
        )
    compression = obj.get("sample_compression")
    if compression is None and htype == LINK_VIDEO and "sample_compression" in obj:
        pass  # a link tensor that takes any container
    elif not isinstance(compression, str):
        raise CorruptDatasetError(f"{where}: field 'sample_compression' must be a string")
    elif compression not in SAMPLE_COMPRESSIONS:
        raise UnsupportedFormatError(
            f"{where}: tensor {name!r} has sample_compression {compression!r}, "
            "unknown to this hubcli",
            hint="upgrade hubcli (pip install -U hubcli)",
        )
    length = non_negative(obj, "length", where)
    segments = tuple(
        _parse_segment_ref(s, name, f"{where} segment #{i}")
        for i, s in enumerate(field(obj, "segments", list, where))
    )
    _check_segments_cover(segments, length, where)
    return TensorMeta(name, htype, compression, length, segments)


def _parse_segment_ref(value: object, tensor: str, where: str) -> SegmentRef:
    obj: Mapping[str, Any] = as_map(value, where)
    key = field(obj, "key", str, where)
    if not keys.is_object_key_of(tensor, key, "segments"):
        raise CorruptDatasetError(f"{where}: {key!r} is not a segment key of tensor {tensor!r}")
    sha = field(obj, "header_sha256", str, where)
    if not _SHA256_HEX_RE.fullmatch(sha):
        raise CorruptDatasetError(f"{where}: header_sha256 must be 64 lowercase hex digits")
    ref = SegmentRef(
        key=key,
        first=non_negative(obj, "first", where),
        count=non_negative(obj, "count", where),
        size=non_negative(obj, "size", where),
        header_size=non_negative(obj, "header_size", where),
        header_sha256=sha,
    )
    if not 16 <= ref.header_size <= min(ref.size, MAX_SEGMENT_HEADER_BYTES):
        raise CorruptDatasetError(
            f"{where}: header_size must be within 16..size and at most "
            f"{MAX_SEGMENT_HEADER_BYTES} bytes"
        )
    if ref.count > max_samples(ref.header_size):
        # Checked before anything is sized by the count (format_spec/limits.md).
        raise CorruptDatasetError(
            f"{where}: {ref.count} samples cannot fit a {ref.header_size}-byte header"
        )
    return ref


def _check_segments_cover(segments: tuple[SegmentRef, ...], length: int, where: str) -> None:
    """Segments must tile samples 0..length-1 in order, with no gap or overlap."""
    expected = 0
    for ref in segments:
        if ref.first != expected or ref.count == 0:
            raise CorruptDatasetError(f"{where}: segments do not tile the samples in order")
        expected += ref.count
    if expected != length:
        raise CorruptDatasetError(f"{where}: segments hold {expected} samples, length is {length}")
