"""Rows (issue 17): ``ds.append({...})`` / ``ds.extend({...})`` add a video and its labels
in one commit, all or nothing: under a storage failure at every write, under SIGKILL at
every step, and with two processes appending rows at once (a row is never split
between commits). Frames are checked against an independent PyAV decode."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import hubcli
from hubcli.core.dataset import Dataset
from hubcli.core.verify import verify
from hubcli.core.versions import read_head
from hubcli.errors import HubcliError, StorageError
from hubcli.storage import LocalStore
from support.crash import run_forked
from support.helpers import snapshot
from support.media import CORPUS, frame_hash
from support.stores import FailingStore

SPECS = {s.name: s for s in CORPUS}
NAMES = ("h264_bframes", "faststart", "vfr")


@pytest.fixture(scope="module")
def sources(video) -> list[str]:
    return [str(video(SPECS[n])) for n in NAMES]


def _empty(path) -> Dataset:
    ds = hubcli.empty(path)
    ds.create_tensor("videos")
    ds.create_tensor("labels", htype="class_label", class_names=["cat", "dog"])
    ds.create_tensor("caps", htype="text")
    return ds


def _rows(sources: list[str]) -> dict[str, list]:
    return {
        "videos": sources,
        "labels": ["dog", ["cat", "bird"], 0],
        "caps": [f"clip of {os.path.basename(s)}" for s in sources],
    }


def _seen(ds: Dataset) -> dict[str, list]:
    """What a reader sees: each video's file, every label and caption."""
    return {
        "videos": [v.sample_info["filename"] for v in ds.videos],
        "labels": [a.tolist() for a in ds.labels.numpy(aslist=True)],
        "caps": ds.caps.numpy(aslist=True),
        "names": ds.labels.info["class_names"],
    }


def test_rows_are_one_commit_and_rows_read_back(tmp_path, sources, oracle):
    path = tmp_path / "ds"
    ds = _empty(path)
    version = ds.version
    ds.extend(_rows(sources))
    assert ds.version == version + 1
    ds.append({"videos": hubcli.read(sources[1]), "labels": "bird", "caps": "again"})
    assert ds.version == version + 2

    again = hubcli.load(path)
    assert len(again) == 4 and again.info().get("note") is None
    assert _seen(again)["labels"] == [1, [0, 2], 0, 2]
    assert again.labels.info["class_names"] == ["cat", "dog", "bird"]
    for row, src in enumerate([*sources, sources[1]]):
        expected = oracle(src).hashes()
        assert again[row].videos.sample_info["filename"] == src
        got = again[row].videos[10:20].numpy()
        assert [frame_hash(f) for f in got] == expected[10:20], row
        assert frame_hash(again[row]["videos"][-1].numpy()) == expected[-1]
    assert again[1]["labels"].numpy().tolist() == [0, 2]
    assert again[1].labels.data()["text"] == ["cat", "bird"]
    assert again[-1].caps.numpy() == "again"
    assert again[2:4].labels.numpy().tolist() == [0, 2]
    assert again[[3, 0]].caps.numpy(aslist=True) == ["again", _rows(sources)["caps"][0]]
    assert len(again[1:3]) == 2 and [r.index for r in again[1:3]] == [1, 2]
    assert set(again[0].tensors) == {"videos", "labels", "caps"}


@pytest.mark.parametrize(
    ("rows", "words"),
    [
        ({"videos": ["A"], "labels": ["cat", "dog"]}, "as many samples"),
        ({"videos": ["A"], "nope": ["cat"]}, "no tensor 'nope'"),
        ({}, "dict of tensor name"),
        ({"videos": ["A"], "labels": [-3], "caps": ["x"]}, "labels[1]: class -3"),
        ({"videos": ["A"], "labels": ["cat"], "caps": [7]}, "caps[1]: int"),
        ({"videos": ["NOT_A_VIDEO"], "labels": ["cat"], "caps": ["x"]}, "NOT_A_VIDEO"),
        ({"videos": ["A", "MISSING"], "labels": ["cat", 1], "caps": ["x", "y"]}, "MISSING"),
    ],
)
def test_bad_rows_change_nothing(tmp_path, sources, rows, words):
    path = tmp_path / "ds"
    ds = _empty(path)
    ds.append({"videos": sources[0], "labels": "cat", "caps": "first"})
    (tmp_path / "text.mp4").write_text("not a video\n" * 50)
    names = {"A": sources[1], "NOT_A_VIDEO": str(tmp_path / "text.mp4")}
    names["MISSING"] = str(tmp_path / "missing.mp4")
    rows = {k: [names.get(v, v) if isinstance(v, str) else v for v in vs] for k, vs in rows.items()}
    words = names.get(words, words)
    before, version = snapshot(path), ds.version
    with pytest.raises(HubcliError) as caught:
        ds.extend(rows)
    assert words in str(caught.value) and "\n" not in str(caught.value)
    assert snapshot(path) == before and hubcli.load(path).version == version
    with pytest.raises(HubcliError):
        ds.append("videos")  # not a dict


def _failing(root, fail_at: int) -> tuple[Dataset, FailingStore]:
    store = FailingStore(LocalStore(root), fail_at=fail_at)
    return Dataset(store, read_head(store)), store


def test_a_failure_at_every_write_changes_nothing(tmp_path, sources):
    rows = _rows(sources[:2]) | {"labels": ["dog", "bird"]}
    rows["caps"] = rows["caps"][:2]
    probe = tmp_path / "probe"
    _empty(probe)
    ds, counter = _failing(probe, fail_at=-1)
    ds.extend(rows)
    # Writes: video chunks and segment, two value segments, the commit record, the hint.
    assert len(counter.log) >= 5, counter.log
    points = [k for k, key in enumerate(counter.log) if key != "log/hint.json"]
    assert points == list(range(len(points)))

    root = tmp_path / "ds"
    _empty(root).append({"videos": sources[2], "labels": "cat", "caps": "first"})
    before, seen = snapshot(root), _seen(hubcli.load(root))
    for k in points:
        target, store = _failing(root, fail_at=k)
        with pytest.raises(StorageError, match="injected failure"):
            target.extend(rows)
        assert snapshot(root) == before, f"a failure at write {k} ({store.log[-1]}) left a change"
    hubcli.load(root).extend(rows)  # a retry works
    after = _seen(hubcli.load(root))
    assert after["videos"] == seen["videos"] + rows["videos"]
    assert (
        after["labels"] == [*seen["labels"], 1, 2] and after["caps"] == seen["caps"] + rows["caps"]
    )
    assert verify(hubcli.load(root)).ok


@pytest.mark.slow
def test_sigkill_at_every_step_leaves_before_or_after(tmp_path, sources):
    base = tmp_path / "base"
    _empty(base).append({"videos": sources[2], "labels": "cat", "caps": "first"})
    rows = _rows(sources[:2]) | {"labels": ["dog", "bird"]}
    rows["caps"] = rows["caps"][:2]
    before = _seen(hubcli.load(base))
    probe = tmp_path / "probe"
    shutil.copytree(base, probe)
    status, total = run_forked(lambda: hubcli.load(probe).extend(rows), kill_at=-1)
    assert status == 0 and total > 5, (status, total)
    after = _seen(hubcli.load(probe))
    assert after != before
    outcomes = set()
    for k in range(total):
        root = tmp_path / f"k{k}"
        shutil.copytree(base, root)
        status, _ = run_forked(lambda root=root: hubcli.load(root).extend(rows), kill_at=k)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (k, status)
        ds = hubcli.load(root)
        now = _seen(ds)
        assert now in (before, after), (k, now)
        report = verify(ds)
        assert report.ok, (k, report.problems)
        outcomes.add(now == after)
        shutil.rmtree(root)
    assert outcomes == {False, True}  # killed before the commit and after it


_WRITER = textwrap.dedent(
    """
    import os, sys, time, hubcli
    url, writer, gate = sys.argv[1], sys.argv[2], sys.argv[3]
    hubcli.load(url)  # imports done: both writers start appending together
    open(f"{gate}.{writer}", "w").close()
    while not os.path.exists(gate):
        time.sleep(0.01)
    for i, source in enumerate(sys.argv[4:]):
        caption = f"{writer}:{i}:{os.path.basename(source)}"
        hubcli.load(url).append({"videos": source, "labels": writer, "caps": caption})
    """
)


@pytest.mark.slow
def test_two_processes_append_rows_never_split(tmp_path, sources):
    per_writer = 4
    plan = {}
    for writer in ("w0", "w1"):  # every row's video is a file of its own
        plan[writer] = []
        for i in range(per_writer):
            copy = tmp_path / f"{writer}_{i}.mp4"
            shutil.copyfile(sources[i % len(sources)], copy)
            plan[writer].append(str(copy))
    url, gate = str(tmp_path / "ds"), tmp_path / "go"
    ds = _empty(url)
    first = ds.version
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, url, writer, str(gate), *files],
            stderr=subprocess.PIPE,
            text=True,
        )
        for writer, files in plan.items()
    ]
    deadline = time.monotonic() + 60
    while not all(Path(f"{gate}.{w}").exists() for w in plan) and time.monotonic() < deadline:
        time.sleep(0.01)
    gate.touch()
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors

    ds = hubcli.load(url)
    # One commit a row; besides them only merges of small label segments (same values).
    made = [e for e in ds.log() if e["version"] > first]
    rows = [e for e in made if e["message"] != "merge label segments"]
    assert len(ds) == 2 * per_writer and len(rows) == 2 * per_writer
    assert all(c["op"] == "compact" for e in made if e not in rows for c in e["changes"])
    # Both writers added a class name at the same time: each got its own number.
    assert sorted(ds.labels.info["class_names"]) == ["cat", "dog", "w0", "w1"]
    order: dict[str, list[int]] = {"w0": [], "w1": []}
    for row in range(len(ds)):
        writer, i, name = ds[row].caps.numpy().split(":")
        assert ds[row].labels.data()["text"] == [writer]
        assert os.path.basename(ds[row].videos.sample_info["filename"]) == name
        assert name == f"{writer}_{i}.mp4"
        order[writer].append(int(i))
    assert order == {"w0": list(range(per_writer)), "w1": list(range(per_writer))}
    for version in range(first, ds.version + 1):  # no version holds half a row
        old = hubcli.load(url, version=version)
        assert len(old.videos) == len(old.labels) == len(old.caps)
    assert verify(ds).ok
