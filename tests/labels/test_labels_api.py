"""Label tensors through the Python API (issue 17): every htype round-trips through a
reopened dataset; whole-tensor reads agree with a plain Python list of the values
appended, after deletes and compaction, read whole or by ranged reads; every kind of
bad value is one HubcliError naming the tensor, the index and the fix, and changes
nothing; verify checks value segments."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import hubcli
from hubcli.core.verify import verify
from hubcli.errors import FrameIndexError, HubcliError, InvalidSampleError
from hubcli.format.values import DTYPES
from support.helpers import snapshot

_names = itertools.count()


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A folder for the hypothesis round trips: each example gets a dataset of its own."""
    return tmp_path_factory.mktemp("labels")


def _fresh(root: Path, htype: str, **options) -> Path:
    """A new dataset with one empty tensor ``t``."""
    path = root / f"d{next(_names)}"
    hubcli.empty(path).create_tensor("t", htype=htype, **options)
    return path


# -- round trips of every htype ----------------------------------------------------------


def test_class_labels_ints_names_lists_and_growing_names(tmp_path):
    path = tmp_path / "ds"
    labels = hubcli.empty(path).create_tensor(
        "labels", htype="class_label", class_names=["cat", "dog"]
    )
    labels.extend(["cat", 1, "bird", ["cat", "dog"], np.int16(4), []])
    labels.append(["fish", "bird"])  # a second append grows the names again
    ds = hubcli.load(path)
    assert ds.labels.info["class_names"] == ["cat", "dog", "bird", "fish"]
    assert ds.labels.info.class_names == ["cat", "dog", "bird", "fish"]
    got = ds.labels.numpy(aslist=True)
    expected = [0, 1, 2, [0, 1], 4, [], [3, 2]]
    assert [g.tolist() for g in got] == expected
    assert all(g.dtype == np.int64 for g in got)
    assert ds.labels[0].numpy().shape == () and ds.labels[3].numpy().shape == (2,)
    assert ds.labels[0:3].numpy().tolist() == [0, 1, 2]  # one label each: stacked
    with pytest.raises(FrameIndexError, match="aslist=True"):
        ds.labels.numpy()  # multi-labels differ in shape
    data = ds.labels.data()
    assert [v.tolist() for v in data["value"]] == expected
    assert data["text"] == [["cat"], ["dog"], ["bird"], ["cat", "dog"], ["4"], [], ["fish", "bird"]]
    one = ds.labels[3].data()
    assert one["value"].tolist() == [0, 1] and one["text"] == ["cat", "dog"]
    assert ds.labels[2].text() == ["bird"]


def test_class_labels_stack_and_fixed_names_refuse_new_ones(tmp_path):
    path = tmp_path / "ds"
    labels = hubcli.empty(path).create_tensor(
        "labels", htype="class_label", class_names=["cat", "dog"], fixed_class_names=True
    )
    labels.extend(["dog", 0, np.array(1), "cat"])
    before, version = snapshot(path), hubcli.load(path).version
    with pytest.raises(InvalidSampleError, match=r"labels\[5\]: unknown class name 'bird'"):
        labels.extend(["cat", "bird"])
    with pytest.raises(InvalidSampleError, match=r"labels\[4\]: class 2 is out of range"):
        labels.append(2)
    assert snapshot(path) == before and hubcli.load(path).version == version
    ds = hubcli.load(path)
    stacked = ds.labels.numpy()
    assert stacked.dtype == np.int64 and stacked.tolist() == [1, 0, 1, 0]
    assert ds.labels.info["fixed_class_names"] is True
    assert ds.labels.data()["text"] == [["dog"], ["cat"], ["dog"], ["cat"]]


UNICODE = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)


@settings(max_examples=25, deadline=None)
@given(texts=st.lists(UNICODE | st.sampled_from(["", "\n", "a\r\nb", "日本語", "\0"]), max_size=8))
def test_text_round_trips(root, texts):
    path = _fresh(root, "text")
    if texts:
        hubcli.load(path).t.extend(texts)
    tensor = hubcli.load(path).t
    assert tensor.numpy(aslist=True) == texts
    assert tensor.data() == texts
    assert tensor.numpy().tolist() == texts and len(tensor) == len(texts)
    for i, text in enumerate(texts):
        assert tensor[i].numpy() == text and tensor[i].data() == text


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | UNICODE,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(UNICODE, children, max_size=4)
    ),
    max_leaves=10,
)


@settings(max_examples=25, deadline=None)
@given(values=st.lists(json_values, min_size=1, max_size=6))
def test_json_round_trips(root, values):
    path = _fresh(root, "json")
    hubcli.load(path).t.extend(values)
    tensor = hubcli.load(path).t
    # Compared as JSON text: the exact value, types included (1 is not 1.0, nor True).
    dump = lambda v: json.dumps(v, sort_keys=True)  # noqa: E731
    assert list(map(dump, tensor.numpy())) == list(map(dump, values))
    assert [dump(tensor[i].numpy()) for i in range(len(values))] == list(map(dump, values))
    assert dump(tensor[-1].data()) == dump(values[-1])


@st.composite
def generic_samples(draw):
    dtype = draw(st.sampled_from(DTYPES))
    ragged = draw(st.booleans())
    base = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    count = draw(st.integers(1, 6))
    shapes = [
        draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)) if ragged else base
        for _ in range(count)
    ]
    return dtype, [draw(hnp.arrays(np.dtype(dtype), s)) for s in shapes]


@settings(max_examples=25, deadline=None)
@given(case=generic_samples(), split=st.integers(0, 6))
def test_generic_round_trips(root, case, split):
    dtype, arrays = case
    path = _fresh(root, "generic", dtype=dtype)
    tensor = hubcli.load(path).t
    for part in (arrays[:split], arrays[split:]):  # one or two appends (segments)
        if part:
            tensor.extend(part)
    again = hubcli.load(path).t
    got = again.numpy(aslist=True)
    assert len(got) == len(arrays)
    for g, a in zip(got, arrays, strict=True):
        assert g.dtype == a.dtype and g.shape == a.shape
        np.testing.assert_array_equal(g, a)  # NaNs equal NaNs
    if len({a.shape for a in arrays}) == 1:
        stacked = again.numpy()
        assert stacked.shape == (len(arrays), *arrays[0].shape) and stacked.dtype == dtype
        np.testing.assert_array_equal(stacked, np.stack(arrays))
    else:
        with pytest.raises(FrameIndexError, match="aslist=True"):
            again.numpy()
    np.testing.assert_array_equal(again[len(arrays) - 1].numpy(), arrays[-1])


def test_generic_fixed_shape_and_safe_casts(tmp_path):
    path = tmp_path / "ds"
    boxes = hubcli.empty(path).create_tensor("boxes", htype="generic", dtype="float32", shape=(4,))
    boxes.extend([[1, 2, 3, 4], np.arange(4, dtype=np.int16), np.zeros(4, np.float32)])
    ds = hubcli.load(path)
    assert ds.boxes.info["shape"] == [4] and ds.boxes.info["dtype"] == "float32"
    got = ds.boxes.numpy()
    assert got.dtype == np.float32 and got.shape == (3, 4)
    assert got.tolist() == [[1, 2, 3, 4], [0, 1, 2, 3], [0, 0, 0, 0]]
    assert ds.boxes[0, 1:3].numpy().tolist() == [2, 3]  # inside one sample
    assert ds.boxes.shape == (3, 4)


# -- whole-tensor reads --------------------------------------------------------------------


SELECTIONS = [
    slice(10, 20),
    [3, 1, 4],
    slice(None, None, -7),
    slice(45, 5, -10),
    [-1, -2, 0, 0],
    slice(5, 5),
    [],
    slice(None),
]


def _expect(values: list, index) -> list:
    if isinstance(index, slice):
        return values[index]
    return [values[i] for i in index]


@pytest.fixture(params=["whole", "ranged"])
def read_mode(request, monkeypatch):
    """Value segments read whole (the default for small ones) or, with a tiny threshold
    and 64-byte checksum blocks, by ranged reads of whole blocks."""
    if request.param == "ranged":
        monkeypatch.setattr("hubcli.core.value_reader.WHOLE_SEGMENT_BYTES", 0)
        monkeypatch.setattr("hubcli.format.values.BLOCK", 64)
    return request.param


def _build(path: Path) -> tuple[list[int], list[str], list[list[int]]]:
    """Labels, captions and boxes of 60 samples in 4 appends each."""
    ds = hubcli.empty(path)
    ds.create_tensor("labels", htype="class_label")
    ds.create_tensor("caps", htype="text")
    ds.create_tensor("boxes", htype="generic", dtype="int32")
    labels = [(7 * i) % 11 for i in range(60)]
    caps = [f"clip {i} " + "é" * (i % 5) for i in range(60)]
    boxes = [list(range(i % 3)) for i in range(60)]  # ragged: 0 to 2 elements
    for a in range(0, 60, 15):
        ds.extend(
            {"labels": labels[a : a + 15], "caps": caps[a : a + 15], "boxes": boxes[a : a + 15]}
        )
    return labels, caps, boxes


def _check_reads(ds, labels, caps, boxes) -> None:
    assert ds.labels.numpy().tolist() == labels
    assert [a.tolist() for a in ds.labels.numpy(aslist=True)] == labels
    assert ds.caps.numpy().tolist() == caps
    assert [b.tolist() for b in ds.boxes.numpy(aslist=True)] == boxes
    for index in SELECTIONS:
        assert ds.labels[index].numpy().tolist() == _expect(labels, index), index
        assert ds.caps[index].numpy(aslist=True) == _expect(caps, index), index
        got = [b.tolist() for b in ds.boxes[index].numpy(aslist=True)]
        assert got == _expect(boxes, index), index
    for i in (0, 17, -1, -len(labels)):
        assert ds.labels[i].numpy().tolist() == labels[i]
        assert ds.caps[i].numpy() == caps[i] and ds.boxes[i].numpy().tolist() == boxes[i]


def test_whole_tensor_reads_after_deletes_and_compaction(tmp_path, read_mode):
    path = tmp_path / "ds"
    labels, caps, boxes = _build(path)
    _check_reads(hubcli.load(path), labels, caps, boxes)
    ds = hubcli.load(path)
    for name, values in (("labels", labels), ("caps", caps), ("boxes", boxes)):
        del ds[name][[0, 14, 15, 31]]
        ds[name].pop()
        for i in (-1, 31, 15, 14, 0):
            del values[i]
    _check_reads(hubcli.load(path), labels, caps, boxes)
    assert hubcli.load(path).compact()
    again = hubcli.load(path)
    _check_reads(again, labels, caps, boxes)
    assert verify(again).ok


def test_rows_length_is_the_shortest_and_info_says_so(tmp_path):
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("labels", htype="class_label", class_names=["a", "b"])
    ds.create_tensor("caps", htype="text")
    ds.labels.extend(["a", "b", "a"])
    ds.caps.extend(["x", "y"])
    info = ds.info()
    assert len(ds) == 2 and info["rows"] == 2
    assert info["tensors"]["labels"]["length"] == 3 and info["tensors"]["caps"]["length"] == 2
    assert info["tensors"]["labels"]["class_names"] == ["a", "b"]
    assert "different lengths" in info["note"] and "2 rows" in info["note"]
    ds.caps.append("z")
    assert "note" not in hubcli.load(ds.path).info() and len(hubcli.load(ds.path)) == 3


# -- bad values -----------------------------------------------------------------------------

BAD = [
    # (htype, create options, a good value, a bad value, words the message has)
    ("class_label", {"class_names": ["a"], "fixed_class_names": True}, "a", "b", "unknown class"),
    ("class_label", {"class_names": ["a"], "fixed_class_names": True}, 0, 1, "out of range"),
    ("class_label", {}, 0, -1, "out of range"),
    ("class_label", {}, 0, 1.5, "not a class label"),
    ("class_label", {}, 0, True, "not a class label"),
    ("class_label", {}, 0, None, "not a class label"),
    ("class_label", {}, 0, [[0]], "not a class label"),
    ("class_label", {}, 0, "x" * 1025, "1,024 characters"),
    ("text", {}, "ok", b"bytes", "not text"),
    ("text", {}, "ok", 3, "not text"),
    ("text", {}, "ok", "\ud800", "surrogate"),
    ("json", {}, {}, float("nan"), "not a JSON value"),
    ("json", {}, {}, {"a": [float("inf")]}, "not a JSON value"),
    ("json", {}, {}, {"a": {1, 2}}, "not a JSON value"),
    ("json", {}, {}, np.arange(3), "not a JSON value"),
    ("json", {}, {}, {"k": "\ud800"}, "surrogate"),
    ("generic", {"dtype": "int16"}, 1, 70000, "cannot be stored as int16"),
    # A numpy scalar casts by value, as a Python number does: these change theirs.
    ("generic", {"dtype": "int16"}, 1, np.int64(70000), "cannot be stored as int16"),
    ("generic", {"dtype": "float32"}, 1, np.float64(0.1), "cannot be stored as float32"),
    # An array's dtype decides, whatever its values.
    ("generic", {"dtype": "int16"}, 1, np.ones(2, np.int64), "cannot be stored as int16"),
    ("generic", {"dtype": "float32"}, 1, 0.1, "cannot be stored as float32"),
    ("generic", {"dtype": "uint8"}, 1, -1, "cannot be stored as uint8"),
    ("generic", {"dtype": "int32"}, 1, [[1], [2, 3]], "cannot be stored"),
    ("generic", {"dtype": "int32"}, 1, "text", "cannot be stored"),
    ("generic", {"dtype": "int32", "shape": (2,)}, [1, 2], [1, 2, 3], "fixed shape"),
    ("generic", {"dtype": "int8"}, 1, np.zeros((1,) * 17, np.int8), "dimensions"),
    ("generic", {}, 1, "text", "cannot be stored"),
    ("generic", {}, 1, [1, 2**70], "cannot be stored"),
]


@pytest.mark.parametrize(("htype", "options", "good", "bad", "words"), BAD)
def test_bad_values_are_one_line_errors_that_change_nothing(
    tmp_path, htype, options, good, bad, words
):
    path = tmp_path / "ds"
    ds = hubcli.empty(path)
    ds.create_tensor("vals", htype=htype, **options)
    ds.vals.extend([good, good])
    before, version = snapshot(path), hubcli.load(path).version
    # Third in an extend (index 2 + 2 earlier samples), then alone (index 2), then in a row.
    for attempt, index in (
        (lambda: ds.vals.extend([good, good, bad]), 4),
        (lambda: ds.vals.append(bad), 2),
        (lambda: ds.extend({"vals": [good, bad]}), 3),
    ):
        with pytest.raises(HubcliError) as caught:
            attempt()
        message = str(caught.value)
        assert "\n" not in message and words in message, message
        assert message.startswith(f"vals[{index}]: "), message
        assert caught.value.hint, message  # the fix
        assert snapshot(path) == before and hubcli.load(path).version == version


@pytest.mark.parametrize(
    ("htype", "options", "words"),
    [
        ("class_label", {"class_names": "cat"}, "class_names="),
        ("class_label", {"class_names": ["a", "a"]}, "distinct"),
        ("class_label", {"class_names": [1, 2]}, "str"),
        ("class_label", {"fixed_class_names": True}, "class_names="),
        ("class_label", {"dtype": "float32"}, "dtype="),
        ("text", {"class_names": ["a"]}, "class_names="),
        ("generic", {"dtype": "complex64"}, "cannot be stored"),
        ("generic", {"dtype": "object"}, "cannot be stored"),
        ("generic", {"shape": (-1,)}, "shape="),
        ("generic", {"shape": "ab"}, "shape="),
        ("json", {"shape": (2,)}, "shape="),
        ("video", {"class_names": ["a"]}, "label tensors"),
    ],
)
def test_bad_tensor_options_change_nothing(tmp_path, htype, options, words):
    path = tmp_path / "ds"
    hubcli.empty(path)
    before = snapshot(path)
    with pytest.raises(HubcliError, match=words) as caught:
        hubcli.load(path).create_tensor("vals", htype=htype, **options)
    assert "\n" not in str(caught.value) and caught.value.hint
    assert snapshot(path) == before


def test_int_shape_is_one_dimensional(tmp_path):
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("v", htype="generic", dtype="uint8", shape=3)
    ds.v.append([1, 2, 3])
    assert ds.v.info["shape"] == [3] and ds.v.numpy().tolist() == [[1, 2, 3]]


# -- verify ---------------------------------------------------------------------------------


def _segments(path: Path, tensor: str) -> list[Path]:
    return sorted((path / "tensors" / tensor / "segments").glob("*.seg"))


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x20
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("where", ["header", "body", "truncated", "missing"])
def test_verify_checks_value_segments(tmp_path, where):
    path = tmp_path / "ds"
    ds = hubcli.empty(path)
    ds.create_tensor("labels", htype="class_label")
    ds.create_tensor("caps", htype="text")
    ds.labels.extend([1, 2, 3])
    ds.caps.extend(["a", "b"])
    ds.caps.extend(["c" * 100, "d"])  # a second segment: samples 2-3
    report = verify(hubcli.load(path))
    assert report.ok and report.samples == 7 and report.bytes_checked > 0
    target = _segments(path, "caps")
    target = max(target, key=lambda p: p.stat().st_size)  # the one of "c" * 100
    if where == "header":
        _flip(target, 30)
    elif where == "body":
        _flip(target, target.stat().st_size - 50)
    elif where == "truncated":
        target.write_bytes(target.read_bytes()[:-1])
    else:
        target.unlink()
    report = verify(hubcli.load(path))
    assert [(p.tensor, p.index) for p in report.problems] == [("caps", 2)]
    assert "(samples 2-3)" in report.problems[0].reason
    words = {"header": "checksum", "body": "block 0", "truncated": "bytes", "missing": "missing"}
    assert words[where] in report.problems[0].reason


def test_verify_names_an_undecodable_value(tmp_path):
    """A value whose bytes pass their checksums but are not UTF-8 (a writer's bug, not
    damage in storage) is named by its index."""
    path = tmp_path / "ds"
    ds = hubcli.empty(path)
    ds.create_tensor("caps", htype="text")
    ds.caps.extend(["ab", "cd", "ef"])
    del ds.caps[0]
    from hubcli.format.values import Column, encode_values

    [seg] = _segments(path, "caps")
    data = seg.read_bytes()
    bad = Column.from_arrays(
        [np.frombuffer(b, np.uint8) for b in (b"ab", b"\xff\xfe", b"ef")], "uint8"
    )
    rewritten = encode_values(bad, "uint8")
    assert len(rewritten) == len(data)
    seg.write_bytes(rewritten)
    report = verify(hubcli.load(path))
    assert [(p.tensor, p.index) for p in report.problems] == [("caps", 0)]
    assert "does not decode" in report.problems[0].reason
