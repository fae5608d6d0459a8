"""Label values converted for storage (hubcli/core/values.py): each htype's accepted
values round-trip, and each bad value is one InvalidSampleError naming the tensor, the
index and the fix."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hubcli.core.values import Converter, check_options, column_values, sample_data
from hubcli.errors import InvalidSampleError
from hubcli.format.values import DTYPES, ValueInfo, default_info

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)


def convert(
    htype: str, values: list[object], info: ValueInfo | None = None
) -> tuple[list[object], ValueInfo]:
    converter = Converter("t", htype, info or default_info(htype), 0)
    column = converter.column(values)
    return column_values(htype, column), converter.info


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(), max_size=8))
def test_text_round_trips_unicode(texts: list[str]) -> None:
    texts = [t for t in texts if not any(0xD800 <= ord(c) <= 0xDFFF for c in t)]
    got, _ = convert("text", list(texts))
    assert got == texts


@settings(max_examples=100, deadline=None)
@given(st.lists(json_values, max_size=6))
def test_json_round_trips(values: list[object]) -> None:
    got, _ = convert("json", list(values))
    assert json.dumps(got, sort_keys=True) == json.dumps(values, sort_keys=True)


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(DTYPES).flatmap(
        lambda d: st.lists(
            hnp.arrays(
                np.dtype(d), hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)
            ),
            min_size=1,
            max_size=5,
        )
    )
)
def test_generic_arrays_round_trip(arrays: list[np.ndarray]) -> None:
    got, info = convert("generic", list(arrays))
    assert info.dtype == arrays[0].dtype.name
    for g, a in zip(got, arrays, strict=True):
        assert (
            g.shape == a.shape
            and g.tobytes() == a.astype(np.dtype(a.dtype).newbyteorder("<")).tobytes()
        )


def test_class_labels_by_int_name_and_list() -> None:
    info = check_options("class_label", class_names=["cat", "dog"])
    got, new = convert("class_label", [1, "cat", ["dog", 0], "bird", np.int32(4)], info)
    assert new.class_names == ("cat", "dog", "bird")
    assert [g.tolist() for g in got] == [1, 0, [1, 0], 2, 4]
    assert got[0].shape == () and got[2].shape == (2,) and got[0].dtype == np.int64
    assert sample_data("class_label", new, got[2]) == {"value": got[2], "text": ["dog", "cat"]}


@pytest.mark.parametrize(
    ("htype", "options", "value", "message"),
    [
        (
            "class_label",
            {"class_names": ["a"], "fixed_class_names": True},
            "b",
            "unknown class name 'b'",
        ),
        (
            "class_label",
            {"class_names": ["a"], "fixed_class_names": True},
            3,
            "class 3 is out of range",
        ),
        ("class_label", {}, -1, "class -1 is out of range"),
        ("class_label", {}, 1.5, "float 1.5 is not a class label"),
        ("class_label", {}, True, "bool True is not a class label"),
        ("text", {}, b"bytes", "bytes is not text"),
        ("text", {}, "\ud800", "lone surrogate"),
        ("json", {}, {"x": float("nan")}, "not a JSON value"),
        ("json", {}, {1, 2}, "not a JSON value"),
        ("generic", {"dtype": "uint8"}, [1, 300], "cannot be stored as uint8"),
        (
            "generic",
            {"dtype": "int32"},
            np.arange(3, dtype=np.int64),
            "int64 cannot be stored as int32",
        ),
        ("generic", {"dtype": "int64"}, [1.5], "cannot be stored as int64"),
        (
            "generic",
            {"dtype": "float32", "shape": [2]},
            [1.0, 2.0, 3.0],
            "differs from the tensor's fixed shape",
        ),
        ("generic", {}, ["a", "b"], "values of dtype str32 cannot be stored"),
    ],
)
def test_bad_values_name_tensor_and_index(
    htype: str, options: dict[str, object], value: object, message: str
) -> None:
    info = check_options(htype, **options)  # type: ignore[arg-type]
    converter = Converter("labels", htype, info, 40)
    with pytest.raises(InvalidSampleError, match=message) as caught:
        converter.column(
            ["fine" if htype == "text" else value, value] if htype == "text" else [value]
        )
    text = str(caught.value)
    assert text.startswith("labels[4")  # the tensor and the sample's index
    assert caught.value.hint


def test_options_are_checked() -> None:
    with pytest.raises(InvalidSampleError, match="dtype= applies to generic"):
        check_options("text", dtype="int32")
    with pytest.raises(InvalidSampleError, match="cannot be stored"):
        check_options("generic", dtype="complex64")
    with pytest.raises(InvalidSampleError, match="distinct"):
        check_options("class_label", class_names=["a", "a"])
    with pytest.raises(InvalidSampleError, match="class_names= applies"):
        check_options("json", class_names=["a"])
    assert check_options("generic", dtype=np.float32, shape=(2, 3)).shape == (2, 3)
