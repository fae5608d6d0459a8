"""Format 1.2 (issue #14): small commits at any size, time travel, removal, compaction and
garbage collection, checked by what a reader sees (every frame hash and timestamp)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

import hubcli
from hubcli.errors import HubcliWarning, ReadOnlyError, VersionError
from support.clirun import assert_user_error, hubcli_run
from support.helpers import content, metadata_bytes, snapshot

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _grown(root, clips, n):
    """A dataset grown by ``n`` single-sample commits (the CI pattern)."""
    ds = hubcli.empty(root)
    ds.create_tensor("videos")
    for i in range(n):
        ds.videos.append(clips[i % len(clips)])
    return ds


def test_state_and_commits_stay_small(tmp_path, clips):
    """300 one-sample commits: the newest state is a few kB (its spine holds fewer than
    fanout entries a level), and all metadata with every version kept is within 1.5x
    of the same samples appended in one commit."""
    ds = _grown(tmp_path / "many", clips, 300)
    hint = tmp_path / "many" / "log" / "hint.json"
    state = json.loads(hint.read_text())
    spine = state["tensors"][0]["spine"]
    assert len(spine) == 2 and len(spine[1]) == 4 and len(spine[0]) == 300 - 4 * 64
    assert hint.stat().st_size < 8_000
    once = hubcli.empty(tmp_path / "once")
    once.create_tensor("videos")
    once.videos.extend([clips[i % len(clips)] for i in range(300)])
    many_bytes, _ = metadata_bytes(tmp_path / "many")
    once_bytes, _ = metadata_bytes(tmp_path / "once")
    assert many_bytes <= 1.5 * once_bytes, (many_bytes, once_bytes)
    assert content(ds) == content(once)


def test_compaction_changes_nothing_a_reader_sees(tmp_path, clips, clip_hashes):
    ds = _grown(tmp_path / "ds", clips, 70)
    before = content(ds)
    assert before["videos"][3][1] == clip_hashes[clips[3 % len(clips)]]  # the oracle
    assert ds.compact()
    assert content(hubcli.load(tmp_path / "ds")) == before
    assert not ds.compact()  # nothing left to merge: no version
    assert len(list((tmp_path / "ds" / "tensors" / "videos" / "segments").iterdir())) == 71


def test_deletes_shift_later_samples_down(tmp_path, clips):
    ds = _grown(tmp_path / "ds", clips, 9)
    before = content(ds)["videos"]
    del ds.videos[3]
    ds.videos.pop()
    ds.videos.pop(0)
    del ds.videos[[0, 2]]
    del ds.videos[1:3]
    # 0..8 -> del 3 -> pop last -> pop 0 -> del [1, 4] (positions 0, 2) -> del 5, 6
    expected = [before[2], before[7]]
    assert content(hubcli.load(tmp_path / "ds"))["videos"] == expected == content(ds)["videos"]
    assert ds.compact()
    assert content(hubcli.load(tmp_path / "ds"))["videos"] == expected


def test_renames_and_dropped_tensors(tmp_path, clips):
    ds = _grown(tmp_path / "ds", clips, 3)
    before = content(ds)["videos"]
    ds.rename_tensor("videos", "clips")
    ds.create_tensor("videos", sample_compression="mkv")  # the old name, a new tensor
    assert list(ds.tensors) == ["clips", "videos"] and len(ds.videos) == 0
    assert content(hubcli.load(tmp_path / "ds"))["clips"] == before
    ds.clips.append(clips[0])
    ds.delete_tensor("videos")
    again = hubcli.load(tmp_path / "ds")
    assert list(again.tensors) == ["clips"] and len(again.clips) == 4
    with pytest.raises(hubcli.errors.TensorExistsError):
        again.rename_tensor("clips", "clips")


def test_time_travel_and_log(tmp_path, clips):
    ds = _grown(tmp_path / "ds", clips, 2)  # versions: 0 created, 1 tensor, 2-3 appends
    at_3 = content(ds)
    for i in range(3):
        ds.videos.append(clips[i % len(clips)])
    del ds.videos[0]
    assert ds.version == 7
    old = hubcli.load(tmp_path / "ds", version=3)
    assert old.version == 3 and content(old) == at_3
    with pytest.raises(ReadOnlyError, match="old version 3"):
        old.videos.append(clips[0])
    log = ds.log()
    assert [e["version"] for e in log] == [7, 6, 5, 4, 3, 2, 1, 0]
    assert log[0]["changes"] == [{"op": "delete", "tensor": "videos", "samples_removed": 1}]
    assert log[1]["changes"] == [{"op": "append", "tensor": "videos", "samples_added": 1}]
    assert log[-2]["changes"][0]["op"] == "create_tensor"
    run = hubcli_run("log", str(tmp_path / "ds"), "--json")
    assert run.code == 0 and [e["version"] for e in run.json()["versions"]][:2] == [7, 6]
    text = hubcli_run("log", str(tmp_path / "ds"), "-n", "2")
    assert text.lines[0].startswith("7\t") and "videos -1" in text.lines[0]
    assert len(text.lines) == 2
    with pytest.raises(VersionError, match="no version 99; its newest is 7"):
        hubcli.load(tmp_path / "ds", version=99)


def test_gc_keeps_what_it_must_and_frees_the_rest(tmp_path, clips):
    ds = _grown(tmp_path / "ds", clips, 80)
    del ds.videos[5]
    expected = content(ds)
    report = ds.gc(keep_versions=1, safety_window=0)
    assert report["oldest_kept"] == report["newest"] and report["compacted"]
    assert content(hubcli.load(tmp_path / "ds")) == expected
    assert hubcli_run("verify", str(tmp_path / "ds")).code == 0
    with pytest.raises(VersionError, match=f"the oldest version kept is {report['newest']}"):
        hubcli.load(tmp_path / "ds", version=10)
    run = hubcli_run("info", str(tmp_path / "ds"), "--json")
    assert run.json()["version"] == report["newest"]
    # After gc of everything but the newest: what one bulk commit of the same samples
    # takes, objects and bytes (within 5 %).
    once = hubcli.empty(tmp_path / "once")
    once.create_tensor("videos")
    once.videos.extend([f for f, _, _ in expected["videos"]])
    once.gc(keep_versions=1, safety_window=0)
    (b1, n1), (b2, n2) = metadata_bytes(tmp_path / "ds"), metadata_bytes(tmp_path / "once")
    assert b1 <= 1.05 * b2 and n1 <= 1.05 * n2, ((b1, n1), (b2, n2))


def test_gc_spares_young_objects_and_removes_old_leftovers(tmp_path, clips):
    """A killed append's leftovers: every one removed once older than the safety
    window, and not one byte of a committed or in-flight append."""
    from support.crash import run_forked

    root = tmp_path / "ds"
    ds = _grown(root, clips, 3)
    # Kill an append half-way through writing its chunk: a leftover temp file.
    committed = content(hubcli.load(root))
    status, _ = run_forked(lambda: hubcli.load(root).videos.append(clips[1]), kill_at=2)
    assert os.WIFSIGNALED(status)
    leftovers = {p for p in root.rglob("*") if p.is_file()} - _reached(root)
    assert leftovers, "the kill left nothing behind"
    # An append in flight: its objects are written, its record not yet.
    in_flight = root / "tensors" / "videos" / "chunks" / ("ab" * 16 + ".chunk")
    in_flight.write_bytes(b"HUBCCHK1 in flight")
    old = time.time() - 7200
    for path in leftovers:
        os.utime(path, (old, old))
    report = ds.gc()
    assert {str(root / k) for k in report["removed"]} == {str(p) for p in leftovers}
    assert in_flight.exists() and report["spared_young"] >= 1
    assert content(hubcli.load(root)) == committed
    dry = hubcli_run("gc", str(root), "--dry-run", "--json")
    assert dry.code == 0 and dry.json()["removed"] == [] and dry.json()["dry_run"]


def _reached(root):
    """Every file the newest version reaches, as a fresh gc would compute it."""
    from hubcli.core.gc import kept_states, reachable_keys

    ds = hubcli.load(root)
    states = list(kept_states(ds.store, ds.manifest, 0))
    keys = reachable_keys(states, ds.reader_of)
    keys |= {"log/hint.json", "log/gc.json"}
    return {root / k for k in keys if (root / k).exists()}


def test_a_reader_of_a_removed_version_gets_a_clear_error(tmp_path, clips):
    """A reader holding a version open while gc removes it: the right frames (what it
    read before) or a clear error, never other frames."""
    ds = _grown(tmp_path / "ds", clips, 5)
    reader = hubcli.load(tmp_path / "ds", version=6)
    first = content(reader)
    del ds.videos[0:3]
    ds.gc(keep_versions=1, safety_window=0)  # version 6 and what only it reached: gone
    reader.cache.headers._items.clear()  # nothing cached: every read goes to storage
    reader.cache.tables._items.clear()
    with pytest.raises(hubcli.HubcliError, match="is missing|removed"):
        content(reader)
    with pytest.raises(VersionError, match="removed by garbage collection"):
        hubcli.load(tmp_path / "ds", version=6)
    assert first["videos"][3:] == content(ds)["videos"]


def test_old_formats_read_identically_and_upgrade_on_write(tmp_path, clips, clip_hashes):
    for name in ("format-1.0", "format-1.1"):
        root = shutil.copytree(FIXTURES / name, tmp_path / name)
        before = snapshot(root)
        ds = hubcli.load(root)
        assert ds.manifest.format_version == name.split("-")[1]
        seen = content(ds)
        for samples in seen.values():
            for filename, hashes, _ in samples:
                assert hashes == clip_hashes[str(FIXTURES / "clips" / Path(filename).name)]
        assert snapshot(root) == before  # reading wrote nothing
        version = ds.version
        with pytest.warns(HubcliWarning, match=f"upgraded {root} to format 1.2"):
            ds.videos.append(clips[0])
        again = hubcli.load(root)
        assert again.manifest.format_version == "1.2" and again.version == version + 1
        upgraded = content(again)
        assert upgraded["videos"][:-1] == seen["videos"]
        assert upgraded["videos"][-1][1] == clip_hashes[clips[0]]
        assert content(hubcli.load(root, version=version)) == seen  # the old version too
        anchor = json.loads((root / "versions" / f"{version + 1:020d}.json").read_text())
        assert anchor["tensors"][0]["htype"] == "hubcli-1.2-log"  # 1.x readers refuse it
        assert hubcli_run("verify", str(root)).code == 0


def test_cli_delete_rename_and_gc(tmp_path, clips):
    root = tmp_path / "ds"
    _grown(root, clips, 4)
    before = content(hubcli.load(root))["videos"]
    run = hubcli_run("delete", str(root), "videos[1:3]", "--json")
    assert run.code == 0 and run.json()["removed"] == [1, 2] and run.json()["length"] == 2
    assert content(hubcli.load(root))["videos"] == [before[0], before[3]]
    assert_user_error(hubcli_run("delete", str(root), "videos"), "delete takes samples")
    assert_user_error(hubcli_run("delete", str(root), "videos[0, 3]"), "not frames")
    assert_user_error(hubcli_run("delete", str(root), "videos[9]"), "out of range")
    assert hubcli_run("rename-tensor", str(root), "videos", "clips").code == 0
    assert hubcli_run("delete-tensor", str(root), "clips").code == 0
    assert hubcli.load(root).tensors == {}
    run = hubcli_run("gc", str(root), "--keep-versions", "1", "--safety-window", "0")
    assert run.code == 0 and "removed" in run.lines[-1], run.stderr
    assert "warning: --safety-window 0" in run.stderr
    assert not list((root / "tensors").rglob("*.chunk"))
    run = hubcli_run("gc", str(root), "--older-than", "soon")
    assert run.code == 2 and "is not a duration" in run.stderr


def test_a_big_append_is_split_into_segments_in_one_commit(tmp_path, clips, monkeypatch):
    """Readers read a segment's header whole (and the format caps it at 64 MiB), so an
    append of many samples writes several segments, still one commit; compaction packs
    to the same budget."""
    monkeypatch.setattr("hubcli.core.ingest.SEGMENT_HEADER_BUDGET", 1500)
    monkeypatch.setattr("hubcli.core.compact.SEGMENT_HEADER_BUDGET", 1500)
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("videos")
    sources = [clips[i % len(clips)] for i in range(12)]
    ds.videos.extend(sources)
    assert ds.version == 2
    segments = tmp_path / "ds" / "tensors" / "videos" / "segments"
    count = len(list(segments.iterdir()))
    assert count >= 3
    seen = content(hubcli.load(tmp_path / "ds"))
    assert [f for f, _, _ in seen["videos"]] == sources
    for i in range(12):
        ds.videos.append(clips[i % len(clips)])
    ds.gc(keep_versions=1, safety_window=0)
    assert len(list(segments.iterdir())) == 2 * count
    assert content(hubcli.load(tmp_path / "ds"))["videos"][:12] == seen["videos"]


def test_a_commit_never_names_an_object_gc_removed(tmp_path, clips, monkeypatch):
    """An append slower than gc's safety window finds its objects removed: it fails
    cleanly instead of committing a version that names missing objects."""
    import hubcli.core.tensor as tensor_module

    monkeypatch.setattr("hubcli.core.commit.RECHECK_AFTER_SECONDS", 0)
    ds = _grown(tmp_path / "ds", clips, 2)
    before = content(ds)
    real = tensor_module.append_change

    def gc_struck(name, directory, entries):
        for entry in entries:  # what a gc with too short a window would do meanwhile
            (tmp_path / "ds" / "tensors" / directory / "segments" / f"{entry.id}.seg").unlink()
        return real(name, directory, entries)

    monkeypatch.setattr(tensor_module, "append_change", gc_struck)
    with pytest.raises(hubcli.errors.ConflictError, match="was removed before it could commit"):
        ds.videos.append(clips[0])
    monkeypatch.undo()
    assert content(hubcli.load(tmp_path / "ds")) == before
    assert hubcli_run("verify", str(tmp_path / "ds")).code == 0
