"""Casting and JSON rules at their edges: what is stored reads back unchanged, and what
would change is refused before anything is written."""

from __future__ import annotations

import math

import numpy as np
import pytest
from typer.testing import CliRunner

import hubcli
from hubcli.cli import app
from hubcli.errors import InvalidSampleError


@pytest.fixture
def ds(tmp_path):
    return hubcli.empty(tmp_path / "ds")


def test_json_keys_must_be_text(ds):
    meta = ds.create_tensor("meta", htype="json")
    for value in ({1: "a"}, [{"ok": {2.5: 1}}], {"a": [{None: 0}]}):
        with pytest.raises(InvalidSampleError, match=r"^meta\[0\]: dict key .* is not a str"):
            meta.append(value)
    assert len(meta) == 0 and ds.version == 1
    meta.append({"a": [{"b": None}], "c": (1, 2)})  # tuples are JSON arrays
    assert meta[0].numpy() == {"a": [{"b": None}], "c": [1, 2]}


def test_numpy_scalars_cast_by_value_arrays_by_dtype(ds):
    g = ds.create_tensor("g", htype="generic", dtype="float32")
    g.extend([np.float64(0.5), np.int64(3), [math.nan, 1.0]])
    assert g[0].numpy() == np.float32(0.5) and g[1].numpy() == np.float32(3)
    assert np.isnan(g[2].numpy()[0]) and g[2].numpy()[1] == 1.0
    assert g[2].numpy().dtype == np.float32
    with pytest.raises(InvalidSampleError, match=r"^g\[3\]: .*0\.1.* cannot be stored as float32"):
        g.append(np.float64(0.1))  # 0.1 has no exact float32
    with pytest.raises(InvalidSampleError, match=r"^g\[3\]: float64 cannot be stored as float32"):
        g.append(np.zeros(2))  # an array's dtype decides, whatever its values
    assert len(g) == 3


def test_delete_samples_of_a_label_tensor_from_the_cli(ds):
    labels = ds.create_tensor("labels", htype="class_label", class_names=["cat", "dog"])
    labels.extend(["cat", "dog", "bird", ["cat", "dog"]])
    runner = CliRunner()
    done = runner.invoke(app, ["delete", ds.path, "labels[1:3]"])
    assert done.exit_code == 0, done.output
    assert "removed 2 samples from 'labels'; it now has 2" in done.stdout
    again = hubcli.load(ds.path)
    assert again.labels.data()["text"] == [["cat"], ["cat", "dog"]]
    done = runner.invoke(app, ["delete", ds.path, "labels[0]"])
    assert done.exit_code == 0 and hubcli.load(ds.path).labels[0].numpy().tolist() == [0, 1]


def test_the_log_tells_label_changes(ds):
    labels = ds.create_tensor("labels", htype="class_label", class_names=["cat"])
    labels.extend(["cat", "new"])  # a new class name: an info op in the same commit
    newest = ds.log()[0]
    assert newest["changes"] == [
        {"op": "set_info", "tensor": "labels"},
        {"op": "append", "tensor": "labels", "samples_added": 2},
    ]
    shown = CliRunner().invoke(app, ["log", ds.path])
    assert shown.exit_code == 0, shown.output
    assert "labels info (class names, dtype), labels +2" in shown.stdout


def test_opening_a_labelled_dataset_uses_the_hint(tmp_path):
    """The hint and checkpoints hold label tensors too (sample_compression null): opening
    after many label commits reads the hint, not every commit record since the anchor."""
    from hubcli.core.versions import read_head
    from hubcli.storage.local import LocalStore
    from support.stores import CountingStore

    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("labels", htype="class_label")
    ds.create_tensor("caps", htype="text")
    for i in range(30):
        ds.extend({"labels": [i % 3], "caps": [f"clip {i}"]})
    store = CountingStore(LocalStore(tmp_path / "ds"))
    head = read_head(store)
    assert head.version == ds.version
    assert [r.key for r in store.reads] == ["log/hint.json"]
