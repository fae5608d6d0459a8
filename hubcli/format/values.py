"""Value segments: the samples of one append to a label tensor (format_spec/values.md).

A ``class_label``, ``text``, ``json`` or ``generic`` sample is a small array (a label,
the UTF-8 bytes of a caption), so one append's samples live inline in one object,
flattened into three arrays::

    offset      size  field
    0           8     magic b"HUBCVAL1"
    8           8     H, uint64 little-endian
    16          4     CRC-32 of the header, uint32 little-endian
    20          H     header: msgpack map (count, dtype, shape, block, crcs, arrays)
    20 + H      ...   body: the arrays "ndim", "dims" and "data" at the offsets the
                      header gives, each block of ``block`` body bytes checked by its
                      CRC-32 in "crcs"

Sample ``s`` has ``ndim[s]`` dimensions (``dims`` holds them all back to back), and
``prod(dims of s)`` elements of ``dtype`` in ``data``, after those of the samples
before it. When every sample has the same shape, the header's ``shape`` says so and
``ndim``/``dims`` are absent: a slice of samples is then one ranged read. Per-block
CRCs (rather than one over the body) let a reader check a ranged read of a few
samples without reading the rest.
"""

from __future__ import annotations

import functools
import math
import struct
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgpack

from hubcli.errors import CorruptDatasetError
from hubcli.format.limits import MAX_INT, MAX_SEGMENT_HEADER_BYTES

# The info rules live in value_info.py (no numpy: manifests parse without the codecs);
# re-exported here for the codecs' users.
from hubcli.format.value_info import (
    CLASS_LABEL as CLASS_LABEL,
)
from hubcli.format.value_info import (
    DTYPES as DTYPES,
)
from hubcli.format.value_info import (
    GENERIC as GENERIC,
)
from hubcli.format.value_info import (
    JSON as JSON,
)
from hubcli.format.value_info import (
    MAX_CLASS_NAME_LENGTH as MAX_CLASS_NAME_LENGTH,
)
from hubcli.format.value_info import (
    MAX_CLASS_NAMES as MAX_CLASS_NAMES,
)
from hubcli.format.value_info import (
    MAX_NDIM as MAX_NDIM,
)
from hubcli.format.value_info import (
    TEXT as TEXT,
)
from hubcli.format.value_info import (
    VALUE_HTYPES as VALUE_HTYPES,
)
from hubcli.format.value_info import (
    ValueInfo as ValueInfo,
)
from hubcli.format.value_info import (
    check_info as check_info,
)
from hubcli.format.value_info import (
    check_info_change as check_info_change,
)
from hubcli.format.value_info import (
    default_info as default_info,
)
from hubcli.format.value_info import (
    parse_info as parse_info,
)
from hubcli.format.value_info import (
    parse_shape as parse_shape,
)

if TYPE_CHECKING:
    # numpy is imported by the functions that use it: `hubcli.load` and `hubcli info`
    # start without it (issue #15, tests/cli/test_startup.py).
    import numpy as np

VALUE_MAGIC = b"HUBCVAL1"
PREFIX = struct.Struct("<8sQI")
PREFIX_SIZE = PREFIX.size  # 20
#: Body bytes per CRC-32 (a ranged read is widened to whole blocks to check it).
BLOCK = 1 << 16

_ARRAYS = ("ndim", "dims", "data")


def storage_dtype(name: str) -> np.dtype[Any]:
    """The little-endian numpy dtype of a stored dtype name."""
    import numpy as np

    return np.dtype(name).newbyteorder("<")


@dataclass(frozen=True)
class Column:
    """Samples flattened: ``data`` holds every element; ``shape`` is set when all samples
    share it, else ``ndim`` (uint8, one per sample) and ``dims`` (int64) describe each."""

    count: int
    data: np.ndarray
    shape: tuple[int, ...] | None
    ndim: np.ndarray | None = None
    dims: np.ndarray | None = None

    @classmethod
    def from_arrays(cls, arrays: list[np.ndarray], dtype: str) -> Column:
        """Flatten samples (each already of ``dtype``)."""
        import numpy as np

        target = storage_dtype(dtype)
        shapes = [a.shape for a in arrays]
        data = (
            np.concatenate([a.reshape(-1) for a in arrays]).astype(target, copy=False)
            if arrays
            else np.empty(0, target)
        )
        # One shape is recorded only when a sample has elements: then every sample takes
        # body bytes, so a count can never exceed the object's size (values.md §1.1).
        if arrays and all(s == shapes[0] for s in shapes) and data.size:
            return cls(len(arrays), data, shapes[0])
        ndim = np.array([len(s) for s in shapes], dtype=np.uint8)
        dims = np.array([d for s in shapes for d in s], dtype=np.int64)
        return cls(len(arrays), data, None if arrays else (), ndim, dims)

    def elements(self) -> np.ndarray:
        """Elements per sample (int64)."""
        import numpy as np

        if self.shape is not None:
            return np.full(self.count, int(np.prod(self.shape, dtype=np.int64)), np.int64)
        return _elements(*self.ragged())

    def sample_shapes(self) -> list[tuple[int, ...]]:
        import numpy as np

        if self.shape is not None:
            return [self.shape] * self.count
        ndim, flat = self.ragged()
        ends = np.cumsum(ndim, dtype=np.int64).tolist()
        dims = flat.tolist()
        return [tuple(dims[e - n : e]) for n, e in zip(ndim.tolist(), ends, strict=True)]

    def take(self, start: int, stop: int) -> Column:
        """Samples ``[start, stop)`` as a new column (views where possible)."""
        if self.shape is not None:
            per = self.per_sample
            return Column(stop - start, self.data[start * per : stop * per], self.shape)
        offsets = self.offsets()
        data = self.data[offsets[start] : offsets[stop]]
        ndim, dims = self.ragged()
        dim_ends = self._dim_ends
        return Column(
            stop - start, data, None, ndim[start:stop], dims[dim_ends[start] : dim_ends[stop]]
        )

    def ragged(self) -> tuple[np.ndarray, np.ndarray]:
        """``(ndim, dims)`` of a column whose samples differ in shape."""
        if self.ndim is None or self.dims is None:
            raise ValueError("a column of one shape has no ndim/dims arrays")
        return self.ndim, self.dims

    @property
    def per_sample(self) -> int:
        """Elements per sample of a column of one shape."""
        assert self.shape is not None
        return math.prod(self.shape)  # 1 for a scalar; ~10x faster than np.prod here

    @functools.cached_property
    def _dim_ends(self) -> np.ndarray:
        """Where each sample's dims start in ``dims``, and the end (once per column: one
        sample taken from a cached column must not cost a pass over all of them)."""
        import numpy as np

        ndim = self.ragged()[0]
        out = np.zeros(self.count + 1, np.int64)
        np.cumsum(ndim, dtype=np.int64, out=out[1:])
        return out

    @functools.cached_property
    def _offsets(self) -> np.ndarray:
        import numpy as np

        out = np.zeros(self.count + 1, np.int64)
        np.cumsum(self.elements(), out=out[1:])
        return out

    def offsets(self) -> np.ndarray:
        """Element offsets of each sample and the end (``count + 1`` int64; computed
        once per column, which a reader caches)."""
        return self._offsets


def concat(columns: list[Column], dtype: str) -> Column:
    """One column of the samples of ``columns`` in order (compaction)."""
    import numpy as np

    columns = [c for c in columns if c.count]
    if not columns:
        return Column(0, np.empty(0, storage_dtype(dtype)), ())
    if len(columns) == 1:  # a whole-tensor read of one segment: no copy
        return columns[0]
    data = np.concatenate([c.data for c in columns])
    count = sum(c.count for c in columns)
    first = columns[0].shape
    if first is not None and all(c.shape == first for c in columns) and data.size:
        return Column(count, data, first)
    # Vectorised per column (a Python loop per sample costs ~0.5 us x 100,000).
    ndim = np.concatenate([_ndim_of(c) for c in columns])
    dims = np.concatenate([_dims_of(c) for c in columns])
    return Column(count, data, None, ndim, dims)


def _ndim_of(column: Column) -> np.ndarray:
    import numpy as np

    if column.shape is None:
        return column.ragged()[0].astype(np.uint8, copy=False)
    return np.full(column.count, len(column.shape), np.uint8)


def _dims_of(column: Column) -> np.ndarray:
    import numpy as np

    if column.shape is None:
        return column.ragged()[1].astype(np.int64, copy=False)
    return np.tile(np.asarray(column.shape, np.int64), column.count)


def _elements(ndim: np.ndarray, dims: np.ndarray) -> np.ndarray:
    """prod(dims) per sample; a sample with ndim 0 has one element."""
    import numpy as np

    out = np.ones(len(ndim), dims.dtype)
    if len(dims) == 0:
        return out
    starts = np.concatenate([[0], np.cumsum(ndim[:-1], dtype=np.int64)])
    has = ndim > 0
    if has.any():
        # reduceat over the samples that own dims: their starts are distinct and increasing.
        out[has] = np.multiply.reduceat(dims, starts[has])
    return out


# -- writing -----------------------------------------------------------------


def encode_values(column: Column, dtype: str) -> bytes:
    """A value segment holding ``column`` (elements of ``dtype``)."""
    import numpy as np

    parts: list[tuple[str, bytes]] = []
    if column.shape is None:
        ndim, dims = column.ragged()
        parts.append(("ndim", ndim.astype(np.uint8).tobytes()))
        parts.append(("dims", dims.astype("<i8").tobytes()))
    parts.append(("data", column.data.astype(storage_dtype(dtype), copy=False).tobytes()))
    arrays: dict[str, list[int]] = {}
    offset = 0
    for name, blob in parts:
        arrays[name] = [offset, len(blob)]
        offset += len(blob)
    body = b"".join(blob for _, blob in parts)
    crcs = b"".join(
        struct.pack("<I", zlib.crc32(body[i : i + BLOCK])) for i in range(0, len(body), BLOCK)
    )
    header = {
        "count": column.count,
        "dtype": dtype,
        "shape": list(column.shape) if column.shape is not None else None,
        "block": BLOCK,
        "crcs": crcs,
        "arrays": arrays,
    }
    packed: bytes = msgpack.packb(header, use_bin_type=True)
    return PREFIX.pack(VALUE_MAGIC, len(packed), zlib.crc32(packed)) + packed + body


# -- reading -----------------------------------------------------------------


@dataclass(frozen=True)
class ValueHeader:
    """A parsed value segment header; offsets count from ``header_size``."""

    header_size: int
    body_size: int
    count: int
    dtype: str
    shape: tuple[int, ...] | None
    block: int
    crcs: bytes
    arrays: dict[str, tuple[int, int]]

    @property
    def itemsize(self) -> int:
        return storage_dtype(self.dtype).itemsize

    def array(self, name: str) -> tuple[int, int]:
        return self.arrays[name]


def parse_value_header(
    prefix: bytes, header_size: int, size: int, count: int, where: str
) -> ValueHeader:
    """Parse the first ``header_size`` bytes of a value segment of ``size`` bytes that its
    entry says holds ``count`` samples; checks every declared size against ``size``."""
    if len(prefix) < header_size or header_size < PREFIX_SIZE:
        raise CorruptDatasetError(f"{where}: value segment is shorter than its header")
    magic, length, crc = PREFIX.unpack_from(prefix)
    if magic != VALUE_MAGIC:
        raise CorruptDatasetError(f"{where}: bad value segment magic {magic!r}")
    if PREFIX_SIZE + length != header_size or length > MAX_SEGMENT_HEADER_BYTES:
        raise CorruptDatasetError(f"{where}: header length {length} disagrees with its entry")
    packed = prefix[PREFIX_SIZE:header_size]
    if zlib.crc32(packed) != crc:
        raise CorruptDatasetError(f"{where}: value segment header checksum mismatch")
    try:
        raw = msgpack.unpackb(packed, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types on bad input
        raise CorruptDatasetError(f"{where}: header is not valid msgpack ({exc})") from None
    if not isinstance(raw, dict):
        raise CorruptDatasetError(f"{where}: header is not a map")
    return _header(raw, header_size, size - header_size, count, where)


def _header(
    raw: dict[str, Any], header_size: int, body: int, count: int, where: str
) -> ValueHeader:
    if raw.get("count") != count or type(raw.get("count")) is not int:
        raise CorruptDatasetError(
            f"{where}: holds {raw.get('count')!r} samples, its entry says {count}"
        )
    dtype = raw.get("dtype")
    if dtype not in DTYPES:
        raise CorruptDatasetError(f"{where}: unknown dtype {dtype!r}")
    shape = parse_shape(raw.get("shape"), where)
    if shape is not None and 0 in shape:
        # Samples without elements take no body bytes: with a shape, nothing would bound
        # the count that a reader allocates offsets for (values.md §1.1).
        raise CorruptDatasetError(f"{where}: shape {list(shape)} has no elements")
    block = raw.get("block")
    if type(block) is not int or not 0 < block <= MAX_INT:
        raise CorruptDatasetError(f"{where}: block must be a positive integer")
    crcs = raw.get("crcs")
    if not isinstance(crcs, bytes) or len(crcs) != 4 * (-(-body // block)):
        raise CorruptDatasetError(f"{where}: crcs must hold one CRC-32 per block of the body")
    arrays = _arrays(raw.get("arrays"), body, shape is None, where)
    return ValueHeader(header_size, body, count, str(dtype), shape, block, crcs, arrays)


def _arrays(value: object, body: int, ragged: bool, where: str) -> dict[str, tuple[int, int]]:
    if not isinstance(value, dict):
        raise CorruptDatasetError(f"{where}: arrays must be a map")
    wanted = set(_ARRAYS) if ragged else {"data"}
    if set(value) != wanted:
        raise CorruptDatasetError(f"{where}: arrays must be exactly {sorted(wanted)}")
    out: dict[str, tuple[int, int]] = {}
    for name, span in value.items():
        if not (
            isinstance(span, list)
            and len(span) == 2
            and all(type(n) is int and n >= 0 for n in span)
        ):
            raise CorruptDatasetError(f"{where}: array {name!r} must be [offset, size]")
        if span[0] + span[1] > body:
            raise CorruptDatasetError(f"{where}: array {name!r} ends past the segment")
        out[name] = (span[0], span[1])
    return out


def check_blocks(header: ValueHeader, start: int, data: bytes | memoryview, where: str) -> None:
    """Check ``data`` (body bytes from ``start``, a block boundary, whole blocks or up to
    the end of the body) against the header's CRCs."""
    first = start // header.block
    for k in range(0, len(data), header.block):
        index = first + k // header.block
        (expected,) = struct.unpack_from("<I", header.crcs, 4 * index)
        if zlib.crc32(data[k : k + header.block]) != expected:
            raise CorruptDatasetError(
                f"{where}: value bytes damaged (block {index} checksum mismatch)"
            )


def block_span(header: ValueHeader, start: int, stop: int) -> tuple[int, int]:
    """The body range ``[start, stop)`` widened to whole blocks (clamped to the body)."""
    first = start - start % header.block
    last = min(header.body_size, -(-stop // header.block) * header.block)
    return first, max(first, last)


def index_arrays(
    header: ValueHeader, ndim_bytes: bytes, dims_bytes: bytes, where: str
) -> tuple[np.ndarray, np.ndarray]:
    """``ndim``/``dims`` of a ragged segment, checked against each other and ``data``."""
    import numpy as np

    ndim = np.frombuffer(ndim_bytes, dtype=np.uint8)
    dims = np.frombuffer(dims_bytes, dtype="<i8")
    if len(ndim) != header.count or int(ndim.max(initial=0)) > MAX_NDIM:
        raise CorruptDatasetError(f"{where}: ndim must hold one size <= {MAX_NDIM} per sample")
    if len(dims) != int(ndim.sum(dtype=np.int64)) or (len(dims) and int(dims.min()) < 0):
        raise CorruptDatasetError(f"{where}: dims disagree with ndim")
    _check_total(header, _float_elements(ndim, dims), where)
    return ndim, dims.astype(np.int64)


def uniform_elements(header: ValueHeader, where: str) -> int:
    """Elements per sample of a segment whose samples share one shape (checked)."""
    import numpy as np

    assert header.shape is not None
    per = 1.0
    for d in header.shape:
        per *= d
    # One product for the whole segment, not an array of ``count`` equal ones.
    _check_total(header, np.array([per * header.count]), where)
    return int(np.prod(header.shape, dtype=np.int64)) if header.shape else 1


def _float_elements(ndim: np.ndarray, dims: np.ndarray) -> np.ndarray:
    # In float64, so a crafted product cannot wrap around int64 before it is checked.
    import numpy as np

    return _elements(ndim, dims.astype(np.float64)) if len(ndim) else np.zeros(0)


def _check_total(header: ValueHeader, elements: np.ndarray, where: str) -> None:
    total = float(elements.sum()) * header.itemsize
    if total != header.array("data")[1]:
        raise CorruptDatasetError(
            f"{where}: data holds {header.array('data')[1]} bytes, the shapes need {total:.0f}"
        )


@dataclass(frozen=True)
class ValueIndex:
    """Where each sample's elements are in a value segment's ``data`` array."""

    header: ValueHeader
    offsets: np.ndarray  # element offset of each sample, and the end (count + 1, int64)
    ndim: np.ndarray | None = None
    dims: np.ndarray | None = None

    def data_span(self, start: int, stop: int) -> tuple[int, int]:
        """Body bytes ``[a, b)`` holding the elements of samples ``[start, stop)``."""
        base = self.header.array("data")[0]
        size = self.header.itemsize
        return base + int(self.offsets[start]) * size, base + int(self.offsets[stop]) * size

    def column(self, start: int, stop: int, data: bytes | memoryview) -> Column:
        """Samples ``[start, stop)`` from ``data``, exactly the bytes of ``data_span``."""
        import numpy as np

        values = np.frombuffer(data, dtype=storage_dtype(self.header.dtype))
        if self.header.shape is not None:
            return Column(stop - start, values, self.header.shape)
        assert self.ndim is not None
        assert self.dims is not None
        dim_ends = np.concatenate([[0], np.cumsum(self.ndim, dtype=np.int64)])
        ndim = self.ndim[start:stop]
        return Column(stop - start, values, None, ndim, self.dims[dim_ends[start] : dim_ends[stop]])


def build_index(header: ValueHeader, read: Any, where: str) -> ValueIndex:
    """The index of a segment; ``read(a, b)`` returns checked body bytes ``[a, b)`` (a
    ragged segment's ``ndim`` and ``dims`` are read through it)."""
    import numpy as np

    if header.shape is not None:
        per = uniform_elements(header, where)
        return ValueIndex(header, np.arange(header.count + 1, dtype=np.int64) * per)
    (n_at, n_size), (d_at, d_size) = header.array("ndim"), header.array("dims")
    if n_at + n_size == d_at:  # as writers put them: one ranged read (values.md §1.2)
        both = read(n_at, d_at + d_size)
        ndim_bytes, dims_bytes = both[:n_size], both[n_size:]
    else:
        ndim_bytes, dims_bytes = read(n_at, n_at + n_size), read(d_at, d_at + d_size)
    ndim, dims = index_arrays(header, ndim_bytes, dims_bytes, where)
    offsets = np.zeros(header.count + 1, np.int64)
    np.cumsum(_elements(ndim, dims), out=offsets[1:])
    return ValueIndex(header, offsets, ndim, dims)


def decode_segment(data: bytes, header_size: int, count: int, where: str) -> Column:
    """Every sample of a whole value segment object (all of it checked)."""
    import numpy as np

    header = parse_value_header(data, header_size, len(data), count, where)
    body = memoryview(data)[header_size:]
    check_blocks(header, 0, body, where)
    if header.shape is not None:
        # Samples of one shape need no offsets: the data array is the column (a view
        # of ``data``, not a copy; 100,000 labels decode in well under a millisecond).
        uniform_elements(header, where)
        at, size = header.array("data")
        values = np.frombuffer(body[at : at + size], dtype=storage_dtype(header.dtype))
        return Column(count, values, header.shape)
    index = build_index(header, lambda a, b: bytes(body[a:b]), where)
    start, stop = index.data_span(0, count)
    return index.column(0, count, body[start:stop])
