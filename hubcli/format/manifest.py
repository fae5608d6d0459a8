"""The state of a dataset at one version, and the JSON objects that hold it.

Format 1.2 (format_spec/log.md) keeps a dataset's state in the hint, in checkpoints and
in the anchor manifest, and changes it by commit records (format/log.py). Formats 1.0
and 1.1 (format_spec/metadata.md) wrote a whole manifest per version under
``versions/``; those are still read, into the same model: a tensor's segment references
become the entries of its layout's first spine level.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from hubcli.errors import CorruptDatasetError, UnsupportedFormatError, UnsupportedHtypeError
from hubcli.format import keys
from hubcli.format.layout import (
    DEFAULT_FANOUT,
    Entry,
    Layout,
    NodePointer,
    SegmentEntry,
    check_layout,
)
from hubcli.format.limits import (
    MAX_INT,
    MAX_MANIFEST_BYTES,
    MAX_SEGMENT_HEADER_BYTES,
    max_samples,
)
from hubcli.format.names import is_creds_key
from hubcli.format.validate import as_map, field, non_negative
from hubcli.format.value_info import VALUE_HTYPES, ValueInfo, parse_info
from hubcli.format.version import (
    FORMAT_NAME,
    LOG_VERSION,
    check_readable,
    parse_format_version,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

VIDEO = "video"
LINK_VIDEO = "link[video]"
#: Video htypes (samples in chunks and segments), then the label htypes of format 1.3
#: (values in value segments, format_spec/values.md).
VIDEO_HTYPES = (VIDEO, LINK_VIDEO)
HTYPES = (*VIDEO_HTYPES, *VALUE_HTYPES)
SAMPLE_COMPRESSIONS = ("mp4", "mov", "mkv", "webm", "avi")
TENSOR_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
_SHA256_HEX_RE = re.compile(r"^[0-9a-f]{64}$")
_DATASET_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_HEX_DIGITS = frozenset("0123456789abcdef")
#: The anchor's stand-in tensor: 1.0/1.1 readers refuse its htype ("upgrade hubcli").
ANCHOR_TENSOR: dict[str, Any] = {
    "name": "_log",
    "htype": "hubcli-1.2-log",
    "sample_compression": None,
    "length": 0,
    "segments": [],
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
    """One tensor: its type, compression, the folder of its objects and its layout.

    ``sample_compression`` is None only for a link tensor that takes any container.
    """

    name: str
    htype: str
    sample_compression: str | None
    dir: str
    layout: Layout = Layout()  # noqa: RUF009 - immutable, so one shared empty layout is fine
    fanout: int = DEFAULT_FANOUT
    #: A label tensor's dtype, shape and class names (format 1.3); None for videos.
    info: ValueInfo | None = None

    @property
    def holds_values(self) -> bool:
        """Whether samples are values in value segments (a label tensor)."""
        return self.htype in VALUE_HTYPES

    @property
    def length(self) -> int:
        return self.layout.length

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "htype": self.htype,
            "sample_compression": self.sample_compression,
            "dir": self.dir,
            "fanout": self.fanout,
            "length": self.length,
            "spine": [[_entry_to_list(e) for e in level] for level in self.layout.spine],
            "deleted": list(self.layout.deleted),
            **({} if self.info is None else {"info": self.info.to_dict()}),
        }


def _entry_to_list(entry: Entry) -> list[Any]:
    if isinstance(entry, SegmentEntry):
        return [entry.id, entry.count, entry.header_size, entry.size, entry.sha256]
    return [entry.id, entry.count]


@dataclass(frozen=True, slots=True)
class Manifest:
    """The complete, immutable state of a dataset at ``version``."""

    dataset_id: str
    version: int
    created_at: str
    tensors: tuple[TensorMeta, ...] = ()
    format_version: str = LOG_VERSION
    creds_keys: tuple[CredsKey, ...] = ()
    #: The version of the anchor this state's log starts at (format_spec/log.md §7);
    #: None for a 1.0/1.1 manifest.
    anchor: int | None = None

    @property
    def is_log(self) -> bool:
        """Whether this is a 1.2 state (changed by commit records)."""
        return self.anchor is not None

    def tensor(self, name: str) -> TensorMeta | None:
        return next((t for t in self.tensors if t.name == name), None)

    def with_tensor(self, meta: TensorMeta) -> Manifest:
        """This state with ``meta`` replacing the tensor of the same name, or added last."""
        names = [t.name for t in self.tensors]
        if meta.name in names:
            tensors = tuple(meta if t.name == meta.name else t for t in self.tensors)
        else:
            tensors = (*self.tensors, meta)
        return replace(self, tensors=tensors)

    def creds_key(self, name: str) -> CredsKey | None:
        return next((k for k in self.creds_keys if k.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """The 1.2 state object (format_spec/log.md §3)."""
        body: dict[str, Any] = {
            "format": FORMAT_NAME,
            "format_version": self.format_version,
            "dataset_id": self.dataset_id,
            "version": self.version,
            "created_at": self.created_at,
            "anchor": self.version if self.anchor is None else self.anchor,
            "tensors": [t.to_dict() for t in self.tensors],
        }
        if self.creds_keys:
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
    if htype in VALUE_HTYPES:
        if compression is not None:
            raise UnsupportedHtypeError(
                f"htype {htype!r} takes no sample_compression", hint="omit sample_compression"
            )
        return str(htype), None
    if compression is None:
        return str(htype), ("mp4" if htype == VIDEO else None)
    if compression not in SAMPLE_COMPRESSIONS:
        raise UnsupportedHtypeError(
            f"unknown sample_compression {compression!r} for htype {htype!r}",
            hint=f"use one of: {', '.join(SAMPLE_COMPRESSIONS)}",
        )
    return str(htype), str(compression)


# --- JSON --------------------------------------------------------------------------------
def dump_json(body: object) -> bytes:
    """Compact, stable JSON (one line) for the objects 1.2 writes."""
    return (json.dumps(body, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def encode_state(manifest: Manifest) -> bytes:
    """The state object (hint, checkpoint)."""
    return dump_json(manifest.to_dict())


def encode_anchor(manifest: Manifest) -> bytes:
    """The anchor manifest of format_spec/log.md §7: a 1.x-shaped manifest that 1.0/1.1
    readers refuse, holding the state it starts the log from."""
    return dump_json(
        {
            "format": FORMAT_NAME,
            "format_version": manifest.format_version,
            "dataset_id": manifest.dataset_id,
            "version": manifest.version,
            "created_at": manifest.created_at,
            "tensors": [ANCHOR_TENSOR],
            "state": manifest.to_dict(),
        }
    )


def load_json(data: bytes, where: str) -> object:
    """Strict JSON for dataset files (format_spec/limits.md): at most
    MAX_MANIFEST_BYTES, no repeated keys, no NaN/Infinity, no integer of more than 4,300
    digits (Python's own limit; the fields a reader uses
    must fit an int64, which their checks enforce), nesting no deeper than the parser's
    recursion limit."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise CorruptDatasetError(
            f"{where}: is larger than the format's limit of {MAX_MANIFEST_BYTES} bytes"
        )
    try:
        return json.loads(
            data.decode("utf-8"),
            object_pairs_hook=lambda pairs: _unique_keys(pairs, where),
            parse_constant=lambda name: _refuse(f"{name} is not a JSON number", where),
        )
    except UnicodeDecodeError as exc:
        raise CorruptDatasetError(f"{where}: not valid JSON (bad UTF-8: {exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise CorruptDatasetError(f"{where}: not valid JSON ({exc})") from None
    except ValueError:
        # int() refuses more than 4,300 digits (and would be slow well before): every
        # number of the format fits an int64, which the field checks enforce.
        raise CorruptDatasetError(f"{where}: an integer with too many digits") from None
    except RecursionError:
        # The C parser recurses once a level and stops cleanly at the interpreter's
        # limit; the format nests 5 levels.
        raise CorruptDatasetError(f"{where}: JSON nested too deeply") from None


def _unique_keys(pairs: list[tuple[str, Any]], where: str) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise CorruptDatasetError(f"{where}: key {key!r} repeats in a JSON object")
        obj[key] = value
    return obj


def _refuse(reason: str, where: str) -> Any:
    raise CorruptDatasetError(f"{where}: {reason}")


# --- reading manifests and states -------------------------------------------------------------
def parse_manifest(data: bytes, where: str) -> Manifest:
    """Parse a manifest under ``versions/``: a 1.0/1.1 manifest, or a 1.2 anchor (whose
    state is returned)."""
    obj = as_map(load_json(data, where), where)
    if obj.get("format") != FORMAT_NAME:
        raise CorruptDatasetError(f"{where}: field 'format' must be {FORMAT_NAME!r}")
    fmt = field(obj, "format_version", str, where)
    version = parse_format_version(fmt, where)
    check_readable(version, where)
    if version >= (1, 2):
        return _parse_anchor(obj, where)
    return _parse_legacy(obj, fmt, where)


def is_anchor(manifest_obj: Mapping[str, Any]) -> bool:
    return "state" in manifest_obj


def _parse_anchor(obj: Mapping[str, Any], where: str) -> Manifest:
    state = parse_state_object(field(obj, "state", dict, where), f"{where} state")
    if non_negative(obj, "version", where) != state.version or state.anchor != state.version:
        raise CorruptDatasetError(f"{where}: the anchor's version disagrees with its state")
    if obj.get("dataset_id") != state.dataset_id:
        raise CorruptDatasetError(f"{where}: dataset_id disagrees with its state")
    return state


def parse_state(data: bytes, where: str) -> Manifest:
    """Parse a 1.2 state object (the hint, a checkpoint)."""
    return parse_state_object(load_json(data, where), where)


def parse_state_object(raw: object, where: str) -> Manifest:
    obj = as_map(raw, where)
    if obj.get("format") != FORMAT_NAME:
        raise CorruptDatasetError(f"{where}: field 'format' must be {FORMAT_NAME!r}")
    fmt = field(obj, "format_version", str, where)
    check_readable(parse_format_version(fmt, where), where)
    tensors = tuple(
        _parse_tensor_state(t, f"{where} tensor #{i}")
        for i, t in enumerate(field(obj, "tensors", list, where))
    )
    _check_unique([t.name for t in tensors], "tensor names", where)
    version = non_negative(obj, "version", where)
    anchor = non_negative(obj, "anchor", where)
    if anchor > version:
        raise CorruptDatasetError(f"{where}: anchor {anchor} is after version {version}")
    return Manifest(
        dataset_id=_dataset_id(obj, where),
        version=version,
        created_at=field(obj, "created_at", str, where),
        tensors=tensors,
        format_version=fmt,
        creds_keys=_creds_keys(obj, where),
        anchor=anchor,
    )


def _dataset_id(obj: Mapping[str, Any], where: str) -> str:
    dataset_id = field(obj, "dataset_id", str, where)
    if not _DATASET_ID_RE.fullmatch(dataset_id):
        raise CorruptDatasetError(f"{where}: dataset_id must be 32 lowercase hex digits")
    return dataset_id


def _check_unique(names: list[str], what: str, where: str) -> None:
    if len(set(names)) != len(names):
        raise CorruptDatasetError(f"{where}: duplicate {what}")


def _creds_keys(obj: Mapping[str, Any], where: str) -> tuple[CredsKey, ...]:
    raw_keys = obj.get("creds_keys", [])  # format 1.1; absent means none
    if not isinstance(raw_keys, list):
        raise CorruptDatasetError(f"{where}: field 'creds_keys' must be a list")
    creds_keys = tuple(
        _parse_creds_key(k, f"{where} creds key #{i}") for i, k in enumerate(raw_keys)
    )
    _check_unique([k.name for k in creds_keys], "creds key names", where)
    return creds_keys


def _parse_creds_key(value: object, where: str) -> CredsKey:
    obj = as_map(value, where)
    name = field(obj, "name", str, where)
    if not is_creds_key(name):
        raise CorruptDatasetError(f"{where}: invalid creds key name {name!r}")
    return CredsKey(name, field(obj, "managed", bool, where))


def _parse_kind(obj: Mapping[str, Any], where: str) -> tuple[str, str, str | None]:
    """``(name, htype, sample_compression)`` of a tensor object, any format version."""
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
    if compression is None and htype in (LINK_VIDEO, *VALUE_HTYPES) and "sample_compression" in obj:
        pass  # a link tensor that takes any container; a label tensor holds no container
    elif htype in VALUE_HTYPES:
        raise CorruptDatasetError(f"{where}: a {htype} tensor's sample_compression must be null")
    elif not isinstance(compression, str):
        raise CorruptDatasetError(f"{where}: field 'sample_compression' must be a string")
    elif compression not in SAMPLE_COMPRESSIONS:
        raise UnsupportedFormatError(
            f"{where}: tensor {name!r} has sample_compression {compression!r}, "
            "unknown to this hubcli",
            hint="upgrade hubcli (pip install -U hubcli)",
        )
    return name, htype, compression


def _parse_tensor_state(value: object, where: str) -> TensorMeta:
    obj = as_map(value, where)
    name, htype, compression = _parse_kind(obj, where)
    directory = field(obj, "dir", str, where)
    if not TENSOR_NAME_RE.fullmatch(directory):
        raise CorruptDatasetError(f"{where}: invalid dir {directory!r}")
    fanout = non_negative(obj, "fanout", where)
    spine = tuple(
        _parse_spine_level(entries, level, f"{where} spine[{level}]", htype in VALUE_HTYPES)
        for level, entries in enumerate(field(obj, "spine", list, where))
    )
    deleted = field(obj, "deleted", list, where)
    if not all(type(d) is int for d in deleted):
        raise CorruptDatasetError(f"{where}: deleted must be integers")
    layout = Layout(spine, tuple(deleted))
    check_layout(layout, fanout, where)
    if non_negative(obj, "length", where) != layout.length:
        raise CorruptDatasetError(f"{where}: length disagrees with its spine and deletions")
    info = parse_info(obj.get("info"), htype, f"{where} info") if htype in VALUE_HTYPES else None
    return TensorMeta(name, htype, compression, directory, layout, fanout, info)


def _is_list(value: object, where: str) -> bool:
    if not isinstance(value, list):
        raise CorruptDatasetError(f"{where}: must be a list")
    return True


def _is_count(value: object) -> bool:
    return type(value) is int and 0 < value <= MAX_INT


def _parse_spine_level(
    entries: object, level: int, where: str, values: bool | None = False
) -> tuple[Entry, ...]:
    """One spine level. A state is parsed at every open, so this loop is kept tight
    (type tests only; the ids' hex digits checked once for the whole level)."""
    if type(entries) is not list:
        raise CorruptDatasetError(f"{where}: a spine level is a list")
    parsed: list[Entry] = []
    hex_parts: list[str] = []
    if level > 0:
        for value in entries:
            if type(value) is list and len(value) == 2:
                entry_id, count = value
                if type(entry_id) is str and len(entry_id) == 32 and _is_count(count):
                    parsed.append(NodePointer(entry_id, count))
                    hex_parts.append(entry_id)
                    continue
            raise CorruptDatasetError(f"{where}: a node pointer is [32 hex digits, count >= 1]")
    else:
        for value in entries:
            if type(value) is list and len(value) == 5:
                entry_id, count, header_size, size, sha = value
                if (
                    type(entry_id) is str
                    and len(entry_id) == 32
                    and _is_count(count)
                    and _is_count(header_size)
                    and _is_count(size)
                    and (sha is None or (type(sha) is str and len(sha) == 64))
                ):
                    _check_segment_sizes(count, header_size, size, where, values)
                    parsed.append(SegmentEntry(entry_id, count, header_size, size, sha))
                    hex_parts.append(entry_id if sha is None else entry_id + sha)
                    continue
            raise CorruptDatasetError(
                f"{where}: a segment entry is [32 hex digits, count, header_size, size, "
                "sha256 or null]"
            )
    if not _HEX_DIGITS.issuperset("".join(hex_parts)):
        raise CorruptDatasetError(f"{where}: ids and digests are lowercase hex digits")
    return tuple(parsed)


def _parse_spine_entry(value: object, level: int, where: str) -> Entry:
    """One entry of a record's op (its tensor's kind is checked when it is applied)."""
    return _parse_spine_level([value], level, where, values=None)[0]


def _check_segment_sizes(
    count: int, header_size: int, size: int, where: str, values: bool | None = False
) -> None:
    """A count that cannot fit the segment is refused before anything is sized by it
    (format_spec/limits.md): a video segment holds a record of at least 64 bytes per
    sample in its header, a value segment at least one body byte per sample
    (values.md §1.1); ``values`` None (kind not known yet) allows either."""
    if not 16 <= header_size <= min(size, MAX_SEGMENT_HEADER_BYTES):
        raise CorruptDatasetError(
            f"{where}: header_size must be within 16..size and at most "
            f"{MAX_SEGMENT_HEADER_BYTES} bytes"
        )
    video_bound, value_bound = max_samples(header_size), size - header_size
    bound = (
        max(video_bound, value_bound) if values is None else value_bound if values else video_bound
    )
    if count > bound:
        raise CorruptDatasetError(
            f"{where}: {count} samples cannot fit a {size}-byte segment with a "
            f"{header_size}-byte header"
        )


# --- 1.0 / 1.1 manifests ------------------------------------------------------------------
def _parse_legacy(obj: Mapping[str, Any], fmt: str, where: str) -> Manifest:
    tensors = tuple(
        _parse_legacy_tensor(t, f"{where} tensor #{i}")
        for i, t in enumerate(field(obj, "tensors", list, where))
    )
    _check_unique([t.name for t in tensors], "tensor names", where)
    return Manifest(
        dataset_id=_dataset_id(obj, where),
        version=non_negative(obj, "version", where),
        created_at=field(obj, "created_at", str, where),
        tensors=tensors,
        format_version=fmt,
        creds_keys=_creds_keys(obj, where),
    )


def _parse_legacy_tensor(value: object, where: str) -> TensorMeta:
    obj = as_map(value, where)
    name, htype, compression = _parse_kind(obj, where)
    length = non_negative(obj, "length", where)
    entries = []
    expected = 0
    for i, raw in enumerate(field(obj, "segments", list, where)):
        entry, first = _parse_segment_ref(raw, name, f"{where} segment #{i}")
        if first != expected:
            raise CorruptDatasetError(f"{where}: segments do not tile the samples in order")
        expected += entry.count
        entries.append(entry)
    if expected != length:
        raise CorruptDatasetError(f"{where}: segments hold {expected} samples, length is {length}")
    layout = Layout((tuple(entries),) if entries else ())
    return TensorMeta(name, htype, compression, name, layout)


def _parse_segment_ref(value: object, tensor: str, where: str) -> tuple[SegmentEntry, int]:
    obj = as_map(value, where)
    key = field(obj, "key", str, where)
    if not keys.is_object_key_of(tensor, key, "segments"):
        raise CorruptDatasetError(f"{where}: {key!r} is not a segment key of tensor {tensor!r}")
    sha = field(obj, "header_sha256", str, where)
    if not _SHA256_HEX_RE.fullmatch(sha):
        raise CorruptDatasetError(f"{where}: header_sha256 must be 64 lowercase hex digits")
    count = non_negative(obj, "count", where)
    if count == 0:
        raise CorruptDatasetError(f"{where}: segments do not tile the samples in order")
    header_size = non_negative(obj, "header_size", where)
    size = non_negative(obj, "size", where)
    _check_segment_sizes(count, header_size, size, where)
    object_id = key.rsplit("/", 1)[-1].removesuffix(".seg")
    return SegmentEntry(object_id, count, header_size, size, sha), non_negative(obj, "first", where)
