"""Appending values to a label tensor: converted, encoded into value segments and
committed as one change (format_spec/values.md §1, §2).

Values are converted inside the commit's plan, against the newest state: a class name
that another writer added meanwhile gets that writer's number, so the stored ints
always mean what the committed ``class_names`` say. A bad value raises before anything
is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hubcli.core.commit import Change, Plan, node_objects
from hubcli.core.values import Converter
from hubcli.errors import TensorNotFoundError
from hubcli.format import keys
from hubcli.format.layout import SegmentEntry
from hubcli.format.log import Append, SetInfo
from hubcli.format.values import Column, ValueInfo, encode_values

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hubcli.format.manifest import Manifest, TensorMeta

#: An append's values are split into segments of at most this much body.
SEGMENT_BODY_BUDGET = 64 << 20


@dataclass
class Encoded:
    """One append's segments, encoded for one ``info`` of its tensor."""

    info: ValueInfo
    entries: list[SegmentEntry]
    objects: list[tuple[str, bytes]]
    nbytes: int = 0


@dataclass
class ValueAppend:
    """The values to append to one tensor; ``plan`` gives the ops and objects for any
    state (re-encoding only when the tensor's info differs from the last attempt's)."""

    name: str
    directory: str
    values: Sequence[object]
    encoded: dict[ValueInfo, Encoded] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        """Bytes of the segments encoded last (those a commit wrote)."""
        return max((e.nbytes for e in self.encoded.values()), default=0)

    def plan(self, state: Manifest) -> Plan:
        meta = state.tensor(self.name)
        if meta is None or meta.dir != self.directory or meta.info is None:
            raise TensorNotFoundError(
                f"tensor {self.name!r} was removed or replaced while this append ran"
            )
        done = self.encoded.get(meta.info) or self._encode(meta)
        self.encoded[meta.info] = done
        result = Plan([] if done.info == meta.info else [SetInfo(self.name, done.info)])
        result.objects.extend(done.objects)
        layout = meta.layout
        for entry in done.entries:
            layout, sealed = layout.appended(entry, meta.fanout, keys.new_object_id)
            result.ops.append(Append(self.name, entry, tuple(node_id for node_id, _ in sealed)))
            result.objects.extend(node_objects(meta, sealed))
        return result

    def _encode(self, meta: TensorMeta) -> Encoded:
        assert meta.info is not None
        converter = Converter(self.name, meta.htype, meta.info, meta.length)
        column = converter.column(self.values)
        info = converter.info
        assert info.dtype is not None
        done = Encoded(info, [], [])
        for part in split(column, SEGMENT_BODY_BUDGET):
            entry, data = encode_value_segment(part, info.dtype)
            done.entries.append(entry)
            done.objects.append((keys.segment_key(meta.dir, entry.id), data))
            done.nbytes += len(data)
        return done


def value_append_change(appends: Sequence[ValueAppend]) -> Change:
    """One change appending to every tensor of ``appends`` (a row append)."""

    def plan(state: Manifest) -> Plan:
        result = Plan([])
        for append in appends:
            part = append.plan(state)
            result.ops.extend(part.ops)
            result.objects.extend(part.objects)
        return result

    return plan


def encode_value_segment(column: Column, dtype: str) -> tuple[SegmentEntry, bytes]:
    """A new value segment of ``column`` and its entry."""
    data = encode_values(column, dtype)
    header_size = len(data) - _body_size(column)
    return SegmentEntry(keys.new_object_id(), column.count, header_size, len(data)), data


def split(column: Column, budget: int) -> list[Column]:
    """``column`` cut into runs of samples whose bodies stay within ``budget`` (a sample
    bigger than the budget gets a segment of its own)."""
    if column.count == 0:
        return []
    itemsize = column.data.dtype.itemsize
    offsets = column.offsets() * itemsize
    parts, start = [], 0
    while start < column.count:
        limit = offsets[start] + budget
        stop = int(offsets[start + 1 :].searchsorted(limit, side="right")) + start
        stop = max(stop, start + 1)
        parts.append(column.take(start, stop))
        start = stop
    return parts


def _body_size(column: Column) -> int:
    body = column.data.nbytes
    if column.shape is None:
        ndim, dims = column.ragged()
        body += ndim.size + dims.size * 8
    return body
