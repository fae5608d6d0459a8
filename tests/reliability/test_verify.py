"""hubcli verify: every kind of damage is found and named; a sound dataset passes."""

from __future__ import annotations

import json
import os
import time

import pytest

import hubcli
from support.clirun import hubcli_run


@pytest.fixture
def ds(tmp_path, corpus):
    root = tmp_path / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("videos")
    ds.videos.extend([str(corpus["h264_bframes"]), str(corpus["hevc"])])  # one chunk
    ds.videos.append(str(corpus["audio"]))  # a second chunk
    ds.create_tensor("links", htype="link[video]")
    ds.links.append(hubcli.link(str(corpus["vp9_mkv"])))
    return ds


def _chunks(ds):
    """(the chunk of sample 2, the chunk of samples 0 and 1)."""
    reader = ds.videos.reader()
    return ds.store.root / reader.locate(2).chunk_key, ds.store.root / reader.locate(0).chunk_key


def test_a_sound_dataset_passes(ds):
    run = hubcli_run("verify", ds.path, "--deep", "--json")
    assert run.code == 0, run.stderr
    report = run.json()
    assert report["ok"] and report["samples"] == 4 and report["problems"] == []
    assert report["frames_decoded"] == 60 + 60 + 60 + 60
    assert report["bytes_checked"] > 0


def test_a_flipped_byte_in_a_chunk(ds):
    """A damaged chunk names only the samples whose bytes are damaged (issue #14), not
    every sample it holds: byte 5000 is inside sample 0; sample 1 shares the chunk."""
    _, big = _chunks(ds)
    data = bytearray(big.read_bytes())
    data[5000] ^= 0x01
    big.write_bytes(bytes(data))
    run = hubcli_run("verify", ds.path, "--json")
    assert run.code == 1
    report = run.json()
    assert [(p["tensor"], p["index"]) for p in report["problems"]] == [("videos", 0)]
    assert all("fails its SHA-256" in p["reason"] for p in report["problems"])
    human = hubcli_run("verify", ds.path)
    assert (
        human.code == 1
        and "videos[0]: the stored file" in human.stdout
        and "1 corrupt" in human.stdout
    )
    data[5000] ^= 0x01
    offset = ds.videos.reader().locate(1).record.offset
    data[offset + 3000] ^= 0x01  # now only sample 1's bytes
    big.write_bytes(bytes(data))
    problems = hubcli_run("verify", ds.path, "--json").json()["problems"]
    assert [(p["tensor"], p["index"]) for p in problems] == [("videos", 1)]


def test_missing_and_truncated_chunks(ds):
    small, big = _chunks(ds)
    big.write_bytes(big.read_bytes()[:-10])
    small.unlink()
    report = json.loads(hubcli_run("verify", ds.path, "--json").stdout)
    reasons = {p["index"]: p["reason"] for p in report["problems"]}
    assert "the segment says" in reasons[0] and "missing" in reasons[2]


def test_a_damaged_frame_table_and_a_changed_link(ds, corpus, tmp_path):
    seg = sorted((ds.store.root / "tensors" / "videos" / "segments").iterdir())[0]
    data = bytearray(seg.read_bytes())
    data[-20] ^= 0xFF  # inside the last frame table of that segment
    seg.write_bytes(bytes(data))
    linked = tmp_path / "linked.mkv"
    linked.write_bytes(corpus["vp9_mkv"].read_bytes())
    ds.links.append(hubcli.link(str(linked)))
    linked.write_bytes(corpus["h264_open_gop"].read_bytes())
    report = json.loads(hubcli_run("verify", ds.path, "--json").stdout)
    reasons = {(p["tensor"], p["index"]): p["reason"] for p in report["problems"]}
    assert any(
        "frame table checksum mismatch" in r for (t, _), r in reasons.items() if t == "videos"
    )
    assert "changed since it was appended" in reasons[("links", 1)]


def test_unreferenced_objects_are_reported_not_failed(ds):
    """A young one may belong to an append in progress; an old one is a leftover."""
    orphan = ds.store.root / "tensors" / "videos" / "chunks" / ("ab" * 16 + ".chunk")
    orphan.write_bytes(b"HUBCCHK1leftover")
    key = "tensors/videos/chunks/" + "ab" * 16 + ".chunk"
    run = hubcli_run("verify", ds.path, "--json")
    assert run.code == 0
    assert run.json()["in_progress"] == [key] and run.json()["unreferenced"] == []
    old = time.time() - 7200
    os.utime(orphan, (old, old))
    run = hubcli_run("verify", ds.path, "--json")
    assert run.code == 0
    assert run.json()["unreferenced"] == [key] and run.json()["in_progress"] == []


def test_verify_a_remote_dataset(s3, corpus):
    url = f"s3://{s3.new_bucket()}/ds"
    ds = hubcli.empty(url)
    ds.create_tensor("videos")
    ds.videos.extend([str(corpus["h264_bframes"]), str(corpus["hevc"])])
    run = hubcli_run("verify", url, "--json")
    assert run.code == 0 and run.json()["ok"], run.stderr
    chunk = next(k for k in s3.keys(url[5:].split("/")[0]) if "/chunks/" in k)
    data = bytearray(s3.fs.cat_file(chunk))
    data[300] ^= 0x10
    s3.fs.pipe_file(chunk, bytes(data))
    run = hubcli_run("verify", url, "--json")
    assert run.code == 1
    # Only the sample whose bytes hold the flipped byte (issue #14).
    assert {p["index"] for p in run.json()["problems"]} == {0}


def test_a_killed_append_leaves_partial_files_that_verify_reports(ds, corpus):
    """A writer killed while it writes a chunk leaves its temp file: ``verify`` names it
    (it was never reported, whatever its size)."""
    from support.crash import run_forked

    root = ds.store.root
    before = set(hubcli_run("verify", ds.path, "--json").json()["unreferenced"])
    # Kill at the 3rd step of an append: the chunk's temp file exists, half written.
    status, _ = run_forked(lambda: hubcli.load(root).videos.append(str(corpus["hevc"])), 2)
    assert os.WIFSIGNALED(status), status
    partials = sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*.partial") if p.is_file()
    )
    assert partials, "the kill left no temp file"
    run = hubcli_run("verify", ds.path, "--json")
    assert run.code == 0, run.stderr
    assert set(partials) <= set(run.json()["in_progress"])  # young: maybe an append running
    old = time.time() - 7200
    for path in partials:
        os.utime(root / path, (old, old))
    run = hubcli_run("verify", ds.path, "--json")
    found = set(run.json()["unreferenced"]) - before
    assert set(partials) <= found, (partials, found)
    text = hubcli_run("verify", ds.path)
    assert "unreferenced" in text.stdout
