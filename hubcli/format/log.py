"""Commit records of format 1.2 and applying them to a state (format_spec/log.md §2).

A record is the commit: creating ``log/<version>.json`` (create-if-absent) makes its
changes visible. Applying it is a pure function of the previous state, so every
reader that replays the same records reaches the same state.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Any

from hubcli.errors import CorruptDatasetError, UnsupportedFormatError
from hubcli.format.layout import Layout, RecordedIds, SegmentEntry, check_layout
from hubcli.format.manifest import (
    HTYPES,
    SAMPLE_COMPRESSIONS,
    TENSOR_NAME_RE,
    CredsKey,
    Manifest,
    TensorMeta,
    _check_segment_sizes,
    _entry_to_list,
    _parse_spine_entry,
    dump_json,
    load_json,
)
from hubcli.format.names import is_creds_key
from hubcli.format.validate import as_map, field, non_negative
from hubcli.format.value_info import (
    VALUE_HTYPES,
    ValueInfo,
    check_info,
    check_info_change,
    parse_info,
)
from hubcli.format.version import check_readable, parse_format_version

#: The format version of records that hold label tensors (format_spec/values.md).
VALUES_VERSION = "1.3"


@dataclass(frozen=True, slots=True)
class CreateTensor:
    name: str
    htype: str
    sample_compression: str | None
    dir: str
    #: A label tensor's info (format 1.3); None for video tensors.
    info: ValueInfo | None = None

    def to_list(self) -> list[Any]:
        head = ["tensor", self.name, self.htype, self.sample_compression, self.dir]
        return head if self.info is None else [*head, self.info.to_dict()]


@dataclass(frozen=True, slots=True)
class SetInfo:
    """A label tensor's new info: class names added, a generic dtype set (format 1.3)."""

    tensor: str
    info: ValueInfo

    def to_list(self) -> list[Any]:
        return ["info", self.tensor, self.info.to_dict()]


@dataclass(frozen=True, slots=True)
class Append:
    tensor: str
    entry: SegmentEntry
    sealed: tuple[str, ...] = ()

    def to_list(self) -> list[Any]:
        e = self.entry
        return ["append", self.tensor, e.id, e.count, e.header_size, e.size, list(self.sealed)]


@dataclass(frozen=True, slots=True)
class Delete:
    tensor: str
    indices: tuple[int, ...]

    def to_list(self) -> list[Any]:
        return ["delete", self.tensor, list(self.indices)]


@dataclass(frozen=True, slots=True)
class SetLayout:
    tensor: str
    layout: Layout

    def to_list(self) -> list[Any]:
        spine = [[_entry_to_list(e) for e in level] for level in self.layout.spine]
        return ["layout", self.tensor, {"spine": spine, "deleted": list(self.layout.deleted)}]


@dataclass(frozen=True, slots=True)
class DropTensor:
    tensor: str

    def to_list(self) -> list[Any]:
        return ["drop", self.tensor]


@dataclass(frozen=True, slots=True)
class Rename:
    old: str
    new: str

    def to_list(self) -> list[Any]:
        return ["rename", self.old, self.new]


@dataclass(frozen=True, slots=True)
class AddCredsKey:
    name: str
    managed: bool

    def to_list(self) -> list[Any]:
        return ["creds_key", self.name, self.managed]


@dataclass(frozen=True, slots=True)
class ManageCredsKey:
    """Make an existing creds key managed (its secrets may then be kept per user)."""

    name: str

    def to_list(self) -> list[Any]:
        return ["manage", self.name]


Op = (
    CreateTensor
    | SetInfo
    | Append
    | Delete
    | SetLayout
    | DropTensor
    | Rename
    | AddCredsKey
    | ManageCredsKey
)


@dataclass(frozen=True, slots=True)
class Record:
    """One version's commit record."""

    version: int
    created_at: str
    ops: tuple[Op, ...]
    message: str | None = None
    #: Set by writers of a later minor format (``"1.3"``...): readers that know 1.2 read
    #: on and ignore fields they do not know, writers refuse to write after it.
    format_version: str | None = None


def encode_record(record: Record) -> bytes:
    body: dict[str, Any] = {
        "v": record.version,
        "t": record.created_at,
        "ops": [op.to_list() for op in record.ops],
    }
    if record.message is not None:
        body["m"] = record.message
    if record.format_version is not None:
        body["f"] = record.format_version
    return dump_json(body)


def parse_record(data: bytes, version: int, where: str) -> Record:
    obj = as_map(load_json(data, where), where)
    if non_negative(obj, "v", where) != version:
        raise CorruptDatasetError(f"{where}: holds version {obj['v']}")
    ops = field(obj, "ops", list, where)
    if not ops:
        raise CorruptDatasetError(f"{where}: a record changes something")
    message = obj.get("m")
    if message is not None and not isinstance(message, str):
        raise CorruptDatasetError(f"{where}: field 'm' must be a string")
    fmt = obj.get("f")
    if fmt is not None:
        check_readable(parse_format_version(fmt, where), where)
    return Record(
        version,
        field(obj, "t", str, where),
        tuple(_parse_op(op, f"{where} op #{i}") for i, op in enumerate(ops)),
        message,
        fmt,
    )


def _parse_op(value: object, where: str) -> Op:
    if not isinstance(value, list) or not value or not isinstance(value[0], str):
        raise CorruptDatasetError(f"{where}: an op is an array starting with its name")
    name, args = value[0], value[1:]
    parser = _PARSERS.get(name)
    if parser is None:
        # format_spec/versioning.md §2: what a later format adds is refused, not guessed.
        raise UnsupportedFormatError(
            f"{where}: op {name!r} is unknown to this hubcli",
            hint="upgrade hubcli (pip install -U hubcli)",
        )
    arity = _ARITY[name]
    if len(args) not in arity:
        raise CorruptDatasetError(f"{where}: op {name!r} takes {arity[0]} elements")
    return parser(args, where)


def _name(value: object, where: str) -> str:
    if not isinstance(value, str) or not TENSOR_NAME_RE.fullmatch(value):
        raise CorruptDatasetError(f"{where}: {value!r} is not a tensor name")
    return value


def _parse_create(args: list[Any], where: str) -> Op:
    name, htype, compression, directory, *rest = args
    if htype not in HTYPES or (compression is not None and compression not in SAMPLE_COMPRESSIONS):
        raise CorruptDatasetError(f"{where}: unknown htype or sample_compression")
    # A label tensor's op carries its info (values.md §2); a video tensor's never does.
    if (htype in VALUE_HTYPES) != bool(rest) or (rest and compression is not None):
        raise CorruptDatasetError(f"{where}: a tensor op has info exactly for label htypes")
    info = parse_info(rest[0], htype, f"{where} info") if rest else None
    return CreateTensor(_name(name, where), htype, compression, _name(directory, where), info)


def _parse_info_op(args: list[Any], where: str) -> Op:
    tensor, raw = args
    # Checked against the tensor's htype when the op is applied.
    return SetInfo(_name(tensor, where), parse_info(raw, None, f"{where} info"))


def _parse_append(args: list[Any], where: str) -> Op:
    tensor, segment_id, count, header_size, size, sealed = args
    entry = _parse_spine_entry([segment_id, count, header_size, size, None], 0, where)
    assert isinstance(entry, SegmentEntry)
    # The tensor's kind is known when the op is applied (it checks strictly then).
    _check_segment_sizes(entry.count, entry.header_size, entry.size, where, values=None)
    if not isinstance(sealed, list) or not all(isinstance(i, str) for i in sealed):
        raise CorruptDatasetError(f"{where}: sealed node ids must be a list of ids")
    for node_id in sealed:
        _parse_spine_entry([node_id, 1], 1, where)  # checks the id's form
    return Append(_name(tensor, where), entry, tuple(sealed))


def _parse_delete(args: list[Any], where: str) -> Op:
    tensor, indices = args
    if not isinstance(indices, list) or not indices or not all(type(i) is int for i in indices):
        raise CorruptDatasetError(f"{where}: delete takes a list of sample indices")
    if any(b <= a for a, b in itertools.pairwise(indices)) or indices[0] < 0:
        raise CorruptDatasetError(f"{where}: delete indices must be sorted and unique")
    return Delete(_name(tensor, where), tuple(indices))


def _parse_layout(args: list[Any], where: str) -> Op:
    tensor, raw = args
    obj = as_map(raw, where)
    spine = tuple(
        tuple(_parse_spine_entry(e, level, f"{where} spine[{level}]") for e in entries)
        for level, entries in enumerate(field(obj, "spine", list, where))
    )
    deleted = field(obj, "deleted", list, where)
    if not all(type(d) is int for d in deleted):
        raise CorruptDatasetError(f"{where}: deleted must be integers")
    return SetLayout(_name(tensor, where), Layout(spine, tuple(deleted)))


def _parse_drop(args: list[Any], where: str) -> Op:
    return DropTensor(_name(args[0], where))


def _parse_rename(args: list[Any], where: str) -> Op:
    return Rename(_name(args[0], where), _name(args[1], where))


def _parse_creds_key(args: list[Any], where: str) -> Op:
    name, managed = args
    if not is_creds_key(name):
        raise CorruptDatasetError(f"{where}: invalid creds key name {name!r}")
    if not isinstance(managed, bool):
        raise CorruptDatasetError(f"{where}: managed must be true or false")
    return AddCredsKey(name, managed)


def _parse_manage(args: list[Any], where: str) -> Op:
    name = args[0]
    if not is_creds_key(name):
        raise CorruptDatasetError(f"{where}: invalid creds key name {name!r}")
    return ManageCredsKey(name)


_PARSERS = {
    "tensor": _parse_create,
    "info": _parse_info_op,
    "append": _parse_append,
    "delete": _parse_delete,
    "layout": _parse_layout,
    "drop": _parse_drop,
    "rename": _parse_rename,
    "creds_key": _parse_creds_key,
    "manage": _parse_manage,
}
#: Elements each op takes (a label tensor's ``tensor`` op has its info as a fifth).
_ARITY = {
    "tensor": (4, 5),
    "info": (2,),
    "append": (6,),
    "delete": (2,),
    "layout": (2,),
    "drop": (1,),
    "rename": (2,),
    "creds_key": (2,),
    "manage": (1,),
}


# --- applying ----------------------------------------------------------------------------
def apply_record(state: Manifest, record: Record, where: str) -> Manifest:
    """The state after ``record`` (the record of version ``state.version + 1``)."""
    if record.version != state.version + 1:
        raise CorruptDatasetError(f"{where}: does not follow version {state.version}")
    for op in record.ops:
        state = apply_op(state, op, where)
    candidates = [state.format_version, record.format_version, required_version(state)]
    fmt = max((f for f in candidates if f), key=lambda f: parse_format_version(f, where))
    return replace(state, version=record.version, created_at=record.created_at, format_version=fmt)


def required_version(state: Manifest) -> str | None:
    """The format a state needs beyond 1.2: 1.3 once it holds a label tensor
    (versioning.md §3: the lowest version that describes it)."""
    return VALUES_VERSION if any(t.holds_values for t in state.tensors) else None


def apply_op(state: Manifest, op: Op, where: str) -> Manifest:
    """One op applied to ``state``; an op that does not apply means a corrupt record."""
    if isinstance(op, CreateTensor):
        if state.tensor(op.name) is not None:
            raise CorruptDatasetError(f"{where}: tensor {op.name!r} exists already")
        meta = TensorMeta(op.name, op.htype, op.sample_compression, op.dir, info=op.info)
        return state.with_tensor(meta)
    if isinstance(op, AddCredsKey):
        if state.creds_key(op.name) is not None:
            raise CorruptDatasetError(f"{where}: creds key {op.name!r} exists already")
        return replace(state, creds_keys=(*state.creds_keys, CredsKey(op.name, op.managed)))
    if isinstance(op, ManageCredsKey):
        key = state.creds_key(op.name)
        if key is None:
            raise CorruptDatasetError(f"{where}: no creds key {op.name!r}")
        keys = tuple(CredsKey(k.name, True) if k is key else k for k in state.creds_keys)
        return replace(state, creds_keys=keys)
    if isinstance(op, Rename):
        return _renamed(state, op, where)
    meta = _tensor(state, op.tensor, where)
    if isinstance(op, DropTensor):
        return replace(state, tensors=tuple(t for t in state.tensors if t.name != op.tensor))
    if isinstance(op, SetInfo):
        if meta.info is None:
            raise CorruptDatasetError(f"{where}: tensor {op.tensor!r} has no info to change")
        check_info(op.info, meta.htype, where)
        check_info_change(meta.info, op.info, where)
        return state.with_tensor(replace(meta, info=op.info))
    if isinstance(op, Append):
        e = op.entry
        _check_segment_sizes(e.count, e.header_size, e.size, where, meta.holds_values)
        ids = RecordedIds(op.sealed, where)
        layout, _ = meta.layout.appended(op.entry, meta.fanout, ids)
        ids.check_used()
    elif isinstance(op, Delete):
        if op.indices[-1] >= meta.length:
            raise CorruptDatasetError(f"{where}: deletes a sample past the end")
        layout = meta.layout.with_deleted(op.indices, where)
    else:
        check_layout(op.layout, meta.fanout, where)
        if op.layout.length != meta.length:
            raise CorruptDatasetError(f"{where}: a new layout must keep the samples")
        layout = op.layout
    return state.with_tensor(replace(meta, layout=layout))


def _tensor(state: Manifest, name: str, where: str) -> TensorMeta:
    meta = state.tensor(name)
    if meta is None:
        raise CorruptDatasetError(f"{where}: no tensor {name!r}")
    return meta


def _renamed(state: Manifest, op: Rename, where: str) -> Manifest:
    meta = _tensor(state, op.old, where)
    if state.tensor(op.new) is not None:
        raise CorruptDatasetError(f"{where}: tensor {op.new!r} exists already")
    renamed = replace(meta, name=op.new)
    return replace(state, tensors=tuple(renamed if t is meta else t for t in state.tensors))
