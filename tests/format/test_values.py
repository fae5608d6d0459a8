"""Value segments (format_spec/values.md): bytes written by encode_values read back the
same samples, whole or by ranged reads checked block by block; damaged or crafted
segments are refused before anything is allocated from their declared sizes."""

from __future__ import annotations

import struct
import zlib

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hubcli.errors import CorruptDatasetError
from hubcli.format.values import (
    BLOCK,
    DTYPES,
    PREFIX_SIZE,
    Column,
    block_span,
    build_index,
    check_blocks,
    decode_segment,
    encode_values,
    parse_value_header,
)

dtypes = st.sampled_from(DTYPES)


@st.composite
def samples(draw: st.DrawFn) -> tuple[str, list[np.ndarray]]:
    dtype = draw(dtypes)
    fixed = draw(st.booleans())
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    count = draw(st.integers(0, 12))
    arrays = [
        draw(
            hnp.arrays(
                np.dtype(dtype),
                shape
                if fixed
                else hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
            )
        )
        for _ in range(count)
    ]
    return dtype, arrays


def _equal(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.tobytes() == b.tobytes()  # bit-exact, NaN included


def _segment(dtype: str, arrays: list[np.ndarray]) -> tuple[bytes, int]:
    data = encode_values(Column.from_arrays(arrays, dtype), dtype)
    (length,) = struct.unpack_from("<Q", data, 8)
    return data, PREFIX_SIZE + length


@settings(max_examples=200, deadline=None)
@given(samples())
def test_round_trip_whole(case: tuple[str, list[np.ndarray]]) -> None:
    dtype, arrays = case
    data, header_size = _segment(dtype, arrays)
    column = decode_segment(data, header_size, len(arrays), "seg")
    assert column.count == len(arrays)
    offsets = column.offsets()
    for k, (want, shape) in enumerate(zip(arrays, column.sample_shapes(), strict=True)):
        got = column.data[offsets[k] : offsets[k + 1]].reshape(shape)
        assert _equal(got, want.astype(np.dtype(dtype).newbyteorder("<")))


@settings(max_examples=100, deadline=None)
@given(samples(), st.data())
def test_ranged_read_of_a_slice(case: tuple[str, list[np.ndarray]], data: st.DataObject) -> None:
    """A slice of samples read with ranged reads (whole blocks, each checked)."""
    dtype, arrays = case
    blob, header_size = _segment(dtype, arrays)
    start = data.draw(st.integers(0, len(arrays)))
    stop = data.draw(st.integers(start, len(arrays)))
    header = parse_value_header(blob[:header_size], header_size, len(blob), len(arrays), "seg")
    body = blob[header_size:]
    reads: list[tuple[int, int]] = []

    def read(a: int, b: int) -> bytes:
        lo, hi = block_span(header, a, b)
        reads.append((lo, hi))
        check_blocks(header, lo, body[lo:hi], "seg")
        return body[a:b]

    index = build_index(header, read, "seg")
    a, b = index.data_span(start, stop)
    column = index.column(start, stop, read(a, b))
    for k, want in enumerate(arrays[start:stop]):
        offs = column.offsets()
        got = column.data[offs[k] : offs[k + 1]].reshape(column.sample_shapes()[k])
        assert _equal(got, want.astype(np.dtype(dtype).newbyteorder("<")))
    if header.shape is not None:  # one shape: the slice is one read
        assert len(reads) == 1


def test_uniform_column_has_no_index_arrays() -> None:
    labels = [np.array(k % 7, np.int64) for k in range(1000)]
    data, header_size = _segment("int64", labels)
    header = parse_value_header(data, header_size, len(data), 1000, "seg")
    assert header.shape == ()
    assert set(header.arrays) == {"data"}
    assert len(data) - header_size == 8000


def test_big_body_has_one_crc_per_block() -> None:
    arrays = [np.arange(BLOCK, dtype=np.uint8)] * 5  # five blocks of body, one shape
    data, header_size = _segment("uint8", arrays)
    header = parse_value_header(data, header_size, len(data), 5, "seg")
    assert len(header.crcs) == 4 * 5


def test_a_flipped_body_byte_is_named() -> None:
    arrays = [np.arange(BLOCK, dtype=np.uint8)] * 3
    data, header_size = _segment("uint8", arrays)
    damaged = bytearray(data)
    damaged[header_size + BLOCK + 10] ^= 1
    with pytest.raises(CorruptDatasetError, match="block 1 checksum"):
        decode_segment(bytes(damaged), header_size, 3, "seg")
    # A read of block 0 only still succeeds: damage is local.
    header = parse_value_header(bytes(damaged), header_size, len(damaged), 3, "seg")
    check_blocks(header, 0, bytes(damaged[header_size : header_size + BLOCK]), "seg")


def _crafted(header: dict[str, object], body: bytes) -> tuple[bytes, int]:
    packed = msgpack.packb(header, use_bin_type=True)
    crcs = b"".join(
        struct.pack("<I", zlib.crc32(body[i : i + BLOCK])) for i in range(0, len(body), BLOCK)
    )
    header = {**header, "crcs": header.get("crcs", crcs)}
    packed = msgpack.packb(header, use_bin_type=True)
    prefix = struct.pack("<8sQI", b"HUBCVAL1", len(packed), zlib.crc32(packed))
    return prefix + packed + body, PREFIX_SIZE + len(packed)


BASE = {"count": 2, "dtype": "int64", "shape": None, "block": BLOCK}


@pytest.mark.parametrize(
    ("change", "body", "message"),
    [
        ({"count": 3}, b"", "its entry says 2"),
        ({"dtype": "object"}, b"", "unknown dtype"),
        ({"shape": [1] * 17}, b"", "at most 16"),
        ({"block": 0}, b"", "block must be"),
        ({"crcs": b"\0" * 8}, b"", "one CRC-32 per block"),
        ({"arrays": {"data": [0, 0]}}, b"", "exactly"),
        (
            {"arrays": {"ndim": [0, 2], "dims": [2, 16], "data": [18, 999]}},
            b"\1\1" + b"\0" * 16,
            "past the segment",
        ),
    ],
)
def test_crafted_headers_are_refused(change: dict[str, object], body: bytes, message: str) -> None:
    data, header_size = _crafted({**BASE, "arrays": {"data": [0, 0]}, **change}, body)
    with pytest.raises(CorruptDatasetError, match=message):
        decode_segment(data, header_size, 2, "seg")


def test_declared_shapes_must_match_the_data() -> None:
    """Huge declared dims (a product that would wrap int64) are refused, not allocated."""
    dims = np.array([2**40, 2**40, 2**40, 1], "<i8").tobytes()
    body = b"\1\3" + dims + b"\0" * 8
    arrays = {"ndim": [0, 2], "dims": [2, 32], "data": [34, 8]}
    data, header_size = _crafted({**BASE, "arrays": arrays}, body)
    with pytest.raises(CorruptDatasetError, match="the shapes need"):
        decode_segment(data, header_size, 2, "seg")


def test_bad_magic_and_header_crc() -> None:
    data, header_size = _segment("int64", [np.array(1), np.array(2)])
    with pytest.raises(CorruptDatasetError, match="magic"):
        decode_segment(b"HUBCSEG2" + data[8:], header_size, 2, "seg")
    broken = bytearray(data)
    broken[PREFIX_SIZE + 2] ^= 0xFF
    with pytest.raises(CorruptDatasetError, match="checksum"):
        decode_segment(bytes(broken), header_size, 2, "seg")
    with pytest.raises(CorruptDatasetError, match="disagrees"):
        decode_segment(data, header_size + 1, 2, "seg")
