"""The command line of label tensors (issue 17): create-tensor options, append of values,
append-rows, show, export to .npy/.jsonl/.npz, info; through real files and stdin, each
result checked against the Python API, every error one line that changes nothing."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

import hubcli
from hubcli.cli import app
from hubcli.cli.options import Compression, Htype
from hubcli.format.manifest import HTYPES, SAMPLE_COMPRESSIONS
from support.clirun import assert_user_error, hubcli_run
from support.helpers import snapshot


def invoke(*args, input=None):
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def ok(result):
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def one_error(result, *needles):
    """Exit 1 by our error translation (not a crash), nothing on stdout, one stderr line."""
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), (
        result.stdout,
        result.stderr,
    )
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr
    return result.stderr


@pytest.fixture
def ds_path(tmp_path):
    """A dataset with labels (class_label: cat, dog), caps (text), meta (json) and boxes
    (generic float32), each holding a few samples."""
    root = tmp_path / "labels_ds"
    ds = hubcli.empty(root)
    ds.create_tensor("labels", htype="class_label", class_names=["cat", "dog"])
    ds.labels.extend(["cat", 1, "bird", ["cat", "dog"]])
    ds.create_tensor("caps", htype="text")
    ds.caps.extend(["a cat\non a mat", "tab\there", "ünïcode ✓"])
    ds.create_tensor("meta", htype="json")
    ds.meta.extend([{"src": "cam1", "n": 3}, [1, 2, None]])
    ds.create_tensor("boxes", htype="generic", dtype="float32")
    ds.boxes.extend([[[1, 2], [3, 4]], np.array([[0.5, 1.5, 2.5]], dtype=np.float32)])
    return root


def test_htype_and_compression_choices_are_the_formats():
    # The drift check options.py cannot make at import (it would load numpy).
    assert {h.value for h in Htype} <= set(HTYPES)
    assert {c.value for c in Compression} == set(SAMPLE_COMPRESSIONS)
    assert {"class_label", "text", "json", "generic"} <= {h.value for h in Htype}


# --- create-tensor ----------------------------------------------------------------------


def test_create_tensor_of_every_label_htype(tmp_path):
    root = tmp_path / "ds"
    hubcli.empty(root)
    doc = json.loads(
        ok(
            invoke(
                "create-tensor", root, "labels", "--htype", "class_label",
                "--class-names", "cat, dog", "--fixed-class-names", "--json",
            )
        ).stdout
    )  # fmt: skip
    assert doc == {
        "tensor": "labels",
        "htype": "class_label",
        "sample_compression": None,
        "info": {
            "dtype": "int64",
            "shape": None,
            "class_names": ["cat", "dog"],
            "fixed_class_names": True,
        },
        "version": 1,
    }
    human = ok(invoke("create-tensor", root, "boxes", "--htype", "generic", "--dtype", "float32",
                      "--shape", "2,4"))  # fmt: skip
    assert human.stdout == "created tensor 'boxes' (generic, float32, shape (2, 4))\n"
    ok(invoke("create-tensor", root, "caps", "--htype", "text"))
    ok(invoke("create-tensor", root, "meta", "--htype", "json"))
    ds = hubcli.load(root)
    assert ds.labels.info.class_names == ["cat", "dog"] and ds.labels.info.fixed_class_names
    assert ds.boxes.info.dtype == "float32" and ds.boxes.info.shape == [2, 4]
    assert {n: t.htype for n, t in ds.tensors.items()} == {
        "labels": "class_label",
        "boxes": "generic",
        "caps": "text",
        "meta": "json",
    }


def test_create_tensor_rejects_label_options_on_videos_and_changes_nothing(tmp_path):
    root = tmp_path / "ds"
    hubcli.empty(root)
    before = snapshot(root)
    one_error(invoke("create-tensor", root, "videos", "--class-names", "a,b"), "class_names=")
    one_error(invoke("create-tensor", root, "t", "--htype", "text", "--dtype", "float32"), "dtype=")
    assert snapshot(root) == before
    bad_shape = invoke("create-tensor", root, "b", "--htype", "generic", "--shape", "2,x")
    assert bad_shape.exit_code == 2 and "is not a shape" in bad_shape.stderr


# --- append -----------------------------------------------------------------------------


def test_append_class_names_beside_ints(ds_path):
    doc = json.loads(
        ok(invoke("append", ds_path, "labels", "cat", "2", "dog", "fish", "--json")).stdout
    )
    ds = hubcli.load(ds_path)
    assert doc == {
        "tensor": "labels",
        "samples_added": 4,
        "bytes_added": doc["bytes_added"],
        "length": 8,
        "version": ds.version,
    }
    assert doc["bytes_added"] > 0
    # "bird" (index 2) was added by the fixture; "fish" is new: class 3.
    assert ds.labels.info.class_names == ["cat", "dog", "bird", "fish"]
    assert [np.asarray(v).tolist() for v in ds.labels[4:].numpy(aslist=True)] == [0, 2, 1, 3]
    human = ok(invoke("append", ds_path, "labels", '[0, "dog"]'))
    assert human.stdout == "appended 1 value to 'labels'; it now has 9\n"
    assert hubcli.load(ds_path).labels[8].numpy().tolist() == [0, 1]


def test_append_text_json_generic_values(ds_path):
    ok(invoke("append", ds_path, "caps", "--", "two words", "", "-5"))  # -- before a "-"
    ok(invoke("append", ds_path, "meta", '{"a": [1, 2]}', '"just a string"', "null"))
    ok(invoke("append", ds_path, "boxes", "[[7, 8]]", "1.5"))
    ds = hubcli.load(ds_path)
    assert ds.caps[3:].numpy(aslist=True) == ["two words", "", "-5"]
    assert ds.meta[2:].numpy() == [{"a": [1, 2]}, "just a string", None]
    assert ds.boxes[2].numpy().tolist() == [[7.0, 8.0]] and ds.boxes[3].numpy().tolist() == 1.5
    assert ds.boxes[2].numpy().dtype == np.float32


def test_append_values_from_a_file_and_stdin(ds_path, tmp_path):
    listing = tmp_path / "labels.txt"
    listing.write_bytes(b"# new labels\r\n\r\ndog\r\n  3 \r\n[1]\n# end\n")
    ok(invoke("append", ds_path, "labels", "--from-file", listing))
    ok(invoke("append", ds_path, "meta", "--from-file", "-", input='{"k": "v"}\n\n[true]\n'))
    ds = hubcli.load(ds_path)
    assert [np.asarray(v).tolist() for v in ds.labels[4:].numpy(aslist=True)] == [1, 3, [1]]
    assert ds.meta[2:].numpy() == [{"k": "v"}, [True]]
    empty = ok(invoke("append", ds_path, "caps", "--from-file", "-", input="# nothing\n"))
    assert empty.stdout == "nothing to append\n"
    assert hubcli.load(ds_path).version == ds.version


@pytest.mark.parametrize(
    ("args", "input", "needles"),
    [
        (
            ["meta", '{"a": 1}', "{a: 1}"],
            None,
            ["meta[3] (value 2 on the command line): not JSON for a json tensor",
             "Expecting property name", "quote it for the shell"],
        ),
        (
            ["boxes", "--from-file", "-"],
            "[[1]]\n# fine so far\n[[1, 2\n",
            ["boxes[3] (stdin line 3): not JSON for a generic tensor", "'[[1, 2], [3, 4]]'"],
        ),
        (
            ["fixed", "a", "b", "zebra"],
            None,
            ["fixed[2]: unknown class name 'zebra' (value 3 on the command line)",
             "use one of: a, b"],
        ),
        (
            ["pairs", "[[1, 2]]", "[[1, 2, 3]]"],
            None,
            ["pairs[1]: shape (1, 3) differs from the tensor's fixed shape (1, 2)",
             "(value 2 on the command line)", "reshape"],
        ),
        (["caps", "--creds-key", "K", "x"], None, ["holds values: no creds_key"]),
    ],
)  # fmt: skip
def test_bad_values_are_one_line_and_change_nothing(ds_path, args, input, needles):
    ds = hubcli.load(ds_path, read_only=False)
    ds.create_tensor("fixed", htype="class_label", class_names=["a", "b"], fixed_class_names=True)
    ds.create_tensor("pairs", htype="generic", dtype="int32", shape=(1, 2))
    before, version = snapshot(ds_path), hubcli.load(ds_path).version
    one_error(invoke("append", ds_path, *args, input=input), *needles)
    assert snapshot(ds_path) == before and hubcli.load(ds_path).version == version


# --- show -------------------------------------------------------------------------------


def test_show_prints_index_tab_value(ds_path):
    assert ok(invoke("show", ds_path, "labels")).stdout.splitlines() == [
        "0\t0 (cat)",
        "1\t1 (dog)",
        "2\t2 (bird)",
        "3\t[0, 1] (cat, dog)",
    ]
    assert ok(invoke("show", ds_path, "caps")).stdout.splitlines() == [
        "0\ta cat\\non a mat",
        "1\ttab\\there",
        "2\tünïcode ✓",
    ]
    assert ok(invoke("show", ds_path, "meta")).stdout == '0\t{"src":"cam1","n":3}\n1\t[1,2,null]\n'
    assert ok(invoke("show", ds_path, "boxes[1:]")).stdout == "1\t[[0.5, 1.5, 2.5]]\n"
    assert ok(invoke("show", ds_path, "boxes[0, 1]")).stdout == "0\t[3.0, 4.0]\n"
    assert (
        ok(invoke("show", ds_path, "labels[[3, 0]]")).stdout == "3\t[0, 1] (cat, dog)\n0\t0 (cat)\n"
    )


def test_show_json_document(ds_path):
    doc = json.loads(ok(invoke("show", ds_path, "labels[2:4]", "--json")).stdout)
    assert doc == {
        "tensor": "labels",
        "htype": "class_label",
        "samples": [
            {"index": 2, "value": 2, "text": ["bird"]},
            {"index": 3, "value": [0, 1], "text": ["cat", "dog"]},
        ],
    }
    doc = json.loads(ok(invoke("show", ds_path, "caps[0]", "--json")).stdout)
    assert doc == {
        "tensor": "caps",
        "htype": "text",
        "samples": [{"index": 0, "value": "a cat\non a mat"}],
    }
    boxes = json.loads(ok(invoke("show", ds_path, "boxes", "--json")).stdout)["samples"]
    assert [s["value"] for s in boxes] == [[[1.0, 2.0], [3.0, 4.0]], [[0.5, 1.5, 2.5]]]


def test_show_of_videos_points_to_info_and_export(cli_ds):
    one_error(invoke("show", cli_ds, "videos[0]"), "holds videos", "hubcli info", "hubcli export")


# --- export -----------------------------------------------------------------------------


def test_export_round_trips(ds_path, tmp_path):
    ds = hubcli.load(ds_path)
    out = tmp_path / "out"
    out.mkdir()
    # .npy: class labels of one label each (a slice), generic of one shape.
    doc = json.loads(
        ok(invoke("export", ds_path, "labels[0:3]", "-o", out / "l.npy", "--json")).stdout
    )
    assert doc == {
        "selector": "labels[0:3]",
        "format": "npy",
        "files": [{"path": str(out / "l.npy"), "samples": 3, "shape": [3]}],
    }
    labels = np.load(out / "l.npy")
    assert labels.dtype == np.int64 and labels.tolist() == [0, 1, 2]
    # .jsonl: one JSON value a line, for text, json and class labels.
    ok(invoke("export", ds_path, "caps", "-o", out / "caps.jsonl"))
    lines = (out / "caps.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == ds.caps.numpy(aslist=True)
    ok(invoke("export", ds_path, "meta", "-o", out / "meta.jsonl"))
    assert [json.loads(x) for x in (out / "meta.jsonl").read_text().splitlines()] == ds.meta.numpy()
    ok(invoke("export", ds_path, "labels", "-o", out / "labels.jsonl"))
    assert [json.loads(x) for x in (out / "labels.jsonl").read_text().splitlines()] == [
        0, 1, 2, [0, 1]
    ]  # fmt: skip
    # .npz: ragged samples, named by their index in the tensor.
    ok(invoke("export", ds_path, "boxes", "-o", out / "boxes.npz"))
    with np.load(out / "boxes.npz") as archive:
        assert sorted(archive.files) == ["0", "1"]
        for k in (0, 1):
            np.testing.assert_array_equal(archive[str(k)], ds.boxes[k].numpy())
            assert archive[str(k)].dtype == np.float32
    ok(invoke("export", ds_path, "labels[2:4]", "-o", out / "some.npz"))
    with np.load(out / "some.npz") as archive:
        assert sorted(archive.files) == ["2", "3"]
        assert archive["3"].tolist() == [0, 1] and archive["2"].tolist() == 2
    # One sample inside a generic sample.
    ok(invoke("export", ds_path, "boxes[0, 1]", "-o", out / "row.npy"))
    assert np.load(out / "row.npy").tolist() == [3.0, 4.0]
    assert not list(out.glob(".*partial"))


def test_export_of_a_long_tensor_streams_in_batches(tmp_path, monkeypatch):
    """More samples than one batch: every value arrives, in order, once."""
    import hubcli.core.export_values as export_values

    monkeypatch.setattr(export_values, "BATCH", 7)
    root = tmp_path / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("caps", htype="text")
    texts = [f"caption {k}" for k in range(30)]
    ds.caps.extend(texts[:12])
    ds.caps.extend(texts[12:])  # two segments
    ok(invoke("export", root, "caps[3:25]", "-o", tmp_path / "c.jsonl"))
    assert [json.loads(x) for x in (tmp_path / "c.jsonl").read_text().splitlines()] == texts[3:25]
    ds.create_tensor("ids", htype="generic", dtype="int16")
    ds.ids.extend([np.arange(k, dtype=np.int16) for k in range(30)])
    ok(invoke("export", root, "ids", "-o", tmp_path / "ids.npz"))
    with np.load(tmp_path / "ids.npz") as archive:
        assert [archive[str(k)].tolist() for k in range(30)] == [list(range(k)) for k in range(30)]


@pytest.mark.parametrize(
    ("selector", "name", "needles"),
    [
        ("labels", "l.npy", ["have different shapes", "one array a sample: -o", "l.npz"]),
        ("boxes", "b.npy", ["have different shapes", "b.npz"]),
        ("caps", "c.npy", ["holds no numbers for .npy", "c.jsonl"]),
        ("meta", "m.npz", ["holds no numbers for .npz", "m.jsonl"]),
        ("labels", "l.csv", ["label tensors export to .npy, .jsonl, .npz", ".jsonl (one JSON"]),
        ("labels", "frames/", ["label tensors export to"]),
    ],
)
def test_export_refusals_write_nothing(ds_path, tmp_path, selector, name, needles):
    out = tmp_path / "out"
    out.mkdir()
    one_error(invoke("export", ds_path, selector, "-o", f"{out}/{name}"), *needles)
    assert list(out.iterdir()) == []


def test_export_video_options_do_not_apply_to_labels(ds_path, tmp_path):
    one_error(
        invoke("export", ds_path, "labels[0:3]", "-o", tmp_path / "l.npy", "--size", "2x2"),
        "--size applies to video frames",
    )
    assert not (tmp_path / "l.npy").exists()


def test_export_of_nan_to_jsonl_is_refused(tmp_path):
    root = tmp_path / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("x", htype="generic", dtype="float64")
    ds.x.extend([np.array([1.0]), np.array([np.nan])])
    one_error(invoke("export", root, "x", "-o", tmp_path / "x.jsonl"), "x[1] holds NaN")
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]


# --- info, shape, timestamps ------------------------------------------------------------


def test_info_lists_label_tensors(ds_path, cli_ds, corpus):
    doc = json.loads(ok(invoke("info", ds_path, "--json")).stdout)
    entries = {t["name"]: t for t in doc["tensors"]}
    assert {n: (t["htype"], t["length"]) for n, t in entries.items()} == {
        "labels": ("class_label", 4),
        "caps": ("text", 3),
        "meta": ("json", 2),
        "boxes": ("generic", 2),
    }
    assert entries["labels"]["info"]["class_names"] == ["cat", "dog", "bird"]
    assert doc["note"] == hubcli.load(ds_path).info()["note"]
    human = ok(invoke("info", ds_path)).stdout.splitlines()
    assert "labels\tclass_label\t-\t4\t3 class names" in human
    assert "boxes\tgeneric\t-\t2\tfloat32, any shape" in human
    assert human[-1] == "note: tensors have different lengths (2, 3, 4): the dataset has 2 rows"
    # A video dataset with a label tensor beside it.
    ds = hubcli.load(cli_ds, read_only=False)
    ds.create_tensor("labels", htype="class_label")
    ds.labels.extend(["a", "b", "a"])
    doc = json.loads(ok(invoke("info", cli_ds, "--json")).stdout)
    assert "note" not in doc
    assert doc["tensors"][0] == {
        "name": "videos",
        "htype": "video",
        "sample_compression": "mp4",
        "length": 3,
    }


def test_info_of_a_label_tensor(ds_path):
    doc = json.loads(ok(invoke("info", ds_path, "labels", "--json")).stdout)
    assert doc == {
        "name": "labels",
        "htype": "class_label",
        "sample_compression": None,
        "length": 4,
        "info": {
            "dtype": "int64",
            "shape": None,
            "class_names": ["cat", "dog", "bird"],
            "fixed_class_names": False,
        },
    }
    human = ok(invoke("info", ds_path, "labels")).stdout.splitlines()
    assert human[0] == "labels: class_label, 4 samples"
    assert "2\tbird" in human
    ok(invoke("info", ds_path, "boxes"))
    one_error(invoke("info", ds_path, "labels[0]"), "hubcli show DATASET 'labels[0]'")


def test_shape_of_labels_and_no_timestamps(ds_path):
    doc = json.loads(ok(invoke("shape", ds_path, "boxes", "--json")).stdout)
    assert doc["samples"] == [{"index": 0, "shape": [2, 2]}, {"index": 1, "shape": [1, 3]}]
    one_error(invoke("timestamps", ds_path, "labels"), "holds class_label values, not videos")
    one_error(invoke("play", ds_path, "labels[0]", "--no-browser"), "play takes one sample")


# --- append-rows ------------------------------------------------------------------------


def _rows(*rows):
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


def test_append_rows_of_labels(ds_path, tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        _rows(
            {"labels": "dog", "caps": "first", "meta": {"i": 1}},
            "",
            {"labels": ["cat", "bird"], "caps": "second", "meta": None},
        ).replace("\n", "\r\n", 1)
    )
    before = hubcli.load(ds_path).version
    doc = json.loads(ok(invoke("append-rows", ds_path, rows, "--json")).stdout)
    ds = hubcli.load(ds_path)
    assert ds.version == before + 1  # one commit for every tensor
    assert doc["rows_added"] == 2 and doc["version"] == ds.version
    assert doc["tensors"]["caps"] == {
        "samples_added": 2,
        "bytes_added": doc["tensors"]["caps"]["bytes_added"],
        "length": 5,
    }
    assert ds.caps[3:].numpy(aslist=True) == ["first", "second"]
    assert ds.meta[2:].numpy() == [{"i": 1}, None]
    assert ds.labels[4].numpy().tolist() == 1 and ds.labels[5].numpy().tolist() == [0, 2]


def test_append_rows_empty_input_appends_nothing(ds_path):
    before = snapshot(ds_path)
    assert ok(invoke("append-rows", ds_path, "-", input="\n\n")).stdout == "nothing to append\n"
    doc = json.loads(ok(invoke("append-rows", ds_path, "-", "--json", input="")).stdout)
    assert doc == {"rows_added": 0, "version": hubcli.load(ds_path).version, "tensors": {}}
    assert snapshot(ds_path) == before


@pytest.mark.parametrize(
    ("lines", "needles"),
    [
        (['{"labels": "cat"}', '{"labels": "dog"', '{"labels": 1}'],
         ["ROWS line 2: not JSON (Expecting ',' delimiter"]),
        (['{"labels": "cat", "caps": "x"}', '{"labels": "dog"}'],
         ["ROWS line 2: no value for 'caps' (the row of line 1 names labels, caps)"]),
        (['{"labels": "cat"}', '{"labels": "dog", "caps": "x"}'],
         ["ROWS line 2: 'caps' is not in the row of line 1 (labels)"]),
        (['{"labels": "cat", "nope": 1}'], ["ROWS line 1: no tensor 'nope' in"]),
        (['["cat"]'], ["ROWS line 1: a row is an object of tensor name to value, not a JSON "
                       "array"]),
        (['{"fixed": "a"}', "", '{"fixed": "zebra"}'],
         ["ROWS line 3: fixed[1]: unknown class name 'zebra'", "use one of: a, b"]),
        (['{"pairs": [[1, 2]]}', '{"pairs": [[1, 2, 3]]}'],
         ["ROWS line 2: pairs[1]: shape (1, 3) differs"]),
        (['{"caps": "ok"}', '{"caps": 5}'], ["ROWS line 2: caps[4]: int is not text"]),
    ],
)  # fmt: skip
def test_append_rows_errors_name_the_line_and_change_nothing(ds_path, tmp_path, lines, needles):
    ds = hubcli.load(ds_path, read_only=False)
    ds.create_tensor("fixed", htype="class_label", class_names=["a", "b"], fixed_class_names=True)
    ds.create_tensor("pairs", htype="generic", dtype="int32", shape=(1, 2))
    rows = tmp_path / "ROWS"
    rows.write_text("\n".join(lines) + "\n")
    before, version = snapshot(ds_path), hubcli.load(ds_path).version
    one_error(invoke("append-rows", ds_path, rows), *needles)
    assert snapshot(ds_path) == before and hubcli.load(ds_path).version == version


@pytest.fixture
def video_ds(tmp_path):
    root = tmp_path / "vds"
    ds = hubcli.empty(root)
    ds.create_tensor("videos")
    ds.create_tensor("labels", htype="class_label", class_names=["cat", "dog"])
    ds.create_tensor("caption", htype="text")
    return root


def test_append_rows_with_videos_frames_match_the_oracle(
    video_ds, tmp_path, corpus, oracle, monkeypatch
):
    clips = tmp_path / "work" / "clips"
    clips.mkdir(parents=True)
    names = ["h264_bframes", "hevc"]
    for name in names:
        shutil.copy(corpus[name], clips / f"{name}.mp4")
    monkeypatch.chdir(tmp_path / "work")  # video paths are relative to the current folder
    rows = _rows(
        {"videos": "clips/h264_bframes.mp4", "labels": "dog", "caption": "a bird\tin B-frames"},
        {"videos": "clips/hevc.mp4", "labels": 0, "caption": "ünïcode"},
    )
    result = ok(invoke("append-rows", video_ds, "-", input=rows))
    assert "appending file 1/2: clips/h264_bframes.mp4" in result.stderr
    assert "appending file 2/2: clips/hevc.mp4" in result.stderr
    size = sum((clips / f"{n}.mp4").stat().st_size for n in names)
    assert result.stdout == (
        f"appended 2 rows to videos, labels, caption, {hubcli.cli.output.human_bytes(size)} of "
        "video; the dataset now has 2 rows\n"
    )
    ds = hubcli.load(video_ds)
    assert ds.version == 4 and len(ds) == 2
    for k, name in enumerate(names):
        expected = np.stack(oracle(corpus[name]).frames)
        np.testing.assert_array_equal(ds[k].videos.numpy(), expected)
    assert ds.labels.numpy().tolist() == [1, 0]
    assert ds.caption.numpy(aslist=True) == ["a bird\tin B-frames", "ünïcode"]
    # A missing video on line 2: nothing of either row is stored.
    before = snapshot(video_ds)
    bad = _rows(
        {"videos": "clips/hevc.mp4", "labels": "cat", "caption": "x"},
        {"videos": "clips/missing.mp4", "labels": "cat", "caption": "y"},
    )
    one_error(
        invoke("append-rows", video_ds, "-", "-q", input=bad), "stdin line 2: ", "missing.mp4"
    )
    one_error(
        invoke(
            "append-rows", video_ds, "-", input=_rows({"videos": 3, "labels": 0, "caption": ""})
        ),
        "stdin line 1: tensor 'videos' takes a video path or URL, not a JSON number",
    )
    assert snapshot(video_ds) == before


# --- real processes: stdin through a pipe -------------------------------------------------


@pytest.mark.slow
def test_pipes_into_append_rows_append_and_show(video_ds, corpus):
    rows = _rows(
        {"videos": str(corpus["h264_bframes"]), "labels": "cat", "caption": "one"},
        {"videos": str(corpus["hevc"]), "labels": "bird", "caption": "two"},
    )
    run = hubcli_run("append-rows", str(video_ds), "-", "--json", input=rows)
    assert run.code == 0, run.stderr
    assert run.json()["rows_added"] == 2 and run.json()["tensors"]["labels"]["length"] == 2
    run = hubcli_run("append", str(video_ds), "labels", "--from-file", "-", input="dog\n# x\n2\n")
    assert run.code == 0 and run.stdout == "appended 2 values to 'labels'; it now has 4\n"
    run = hubcli_run("show", str(video_ds), "labels")
    assert run.stdout == "0\t0 (cat)\n1\t2 (bird)\n2\t1 (dog)\n3\t2 (bird)\n"
    before = snapshot(video_ds)
    assert_user_error(
        hubcli_run("append-rows", str(video_ds), "-", input='{"labels": "cat"}\n{"labels"\n'),
        "stdin line 2: not JSON",
    )
    assert snapshot(video_ds) == before


_PROBE = """
import json, sys
sys.argv = ["hubcli", *json.loads(sys.argv[1])]
from hubcli.cli import main
try:
    main()
except SystemExit:
    pass
heavy = ("av", "fsspec", "hubcli.video", "hubcli.serve")
print(json.dumps(sorted(m for m in heavy if m in sys.modules)), file=sys.stderr)
"""


def test_label_commands_load_no_video_stack(ds_path, tmp_path):
    """Start-up: showing, exporting and appending labels never loads PyAV or fsspec."""
    import subprocess
    import sys

    for args in (
        ["show", ds_path, "labels"],
        ["export", ds_path, "caps", "-o", tmp_path / "c.jsonl"],
        ["append", ds_path, "labels", "cat"],
        ["append-rows", ds_path, "-"],
    ):
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, json.dumps([str(a) for a in args])],
            capture_output=True,
            text=True,
            timeout=120,
            input="",
        )
        *said, loaded = done.stderr.splitlines()
        assert said == [] and done.stdout, (args, done.stderr)  # the command did its work
        assert json.loads(loaded) == [], args
