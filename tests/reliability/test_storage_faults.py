"""Faults in storage, call by call: for every k, a write fails cleanly and changes
nothing visible; a read fails cleanly and never returns wrong frames."""

from __future__ import annotations

import errno

import fsspec
import pytest

import hubcli
import hubcli.storage.transient as transient
from hubcli.core.dataset import Dataset
from hubcli.core.verify import verify
from hubcli.core.versions import read_head
from hubcli.errors import CorruptDatasetError, HubcliError, StorageError
from hubcli.format import keys
from hubcli.format.manifest import Manifest, encode_anchor
from hubcli.storage import FsspecStore, LocalStore
from support.faultfs import FaultyFS
from support.media import frame_hash

FAULTS: list[str] = []  # every fault injected by this module


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch):
    monkeypatch.setattr(transient, "FIRST_DELAY", 0.001)


@pytest.fixture
def faulty(tmp_path, corpus):
    """A dataset on fsspec's memory filesystem behind a FaultyFS, with one sample."""
    fs = fsspec.filesystem("memory", skip_instance_cache=True)
    faulty = FaultyFS(fs)
    root = f"/faults-{tmp_path.name}"
    store = FsspecStore(faulty, root, f"memory://{root}")
    store.put_if_absent(keys.version_key(0), encode_anchor(Manifest("0" * 32, 0, "now", anchor=0)))
    ds = Dataset(store, read_head(store))
    ds.create_tensor("videos")
    ds.videos.append(str(corpus["h264_bframes"]))
    return faulty, store, fs, root


def _objects(fs, root):
    return {p: bytes(fs.cat_file(p)) for p in fs.find(root)}


def _count(faulty, kind, work):
    faulty.plan(kind, 10**9, "error", False)
    work()
    faulty.disarm()
    return faulty.calls[kind]


@pytest.mark.parametrize("mode", ["error", "timeout"])
def test_every_write_failing_for_good(faulty, corpus, mode, monkeypatch):
    monkeypatch.setattr("hubcli.core.ingest.CHUNK_TARGET_BYTES", 15_000)  # a chunk each
    faulty_fs, store, fs, root = faulty
    sources = [str(corpus[n]) for n in ("hevc", "audio", "vfr", "faststart")]
    probe = Dataset(store, read_head(store))
    writes = _count(faulty_fs, "write", lambda: None)  # nothing yet
    del writes
    before = _objects(fs, root)
    total = None
    k = 0
    # The last write of an append is the hint, after the commit: a cache whose failure
    # fails nothing (format_spec/log.md §5). Every write before it is a point of failure.
    while total is None or k < total - 1:
        faulty_fs.plan("write", k, mode, persistent=True)
        with pytest.raises(StorageError, match="cannot write memory://"):
            Dataset(store, read_head(store)).videos.extend(sources)
        FAULTS.append(f"write {k} {mode}")
        faulty_fs.disarm()
        after = _objects(fs, root)
        # Everything that was there is byte-identical; anything new is unreferenced.
        assert {p: after[p] for p in before} == before
        ds = hubcli.Dataset(store, read_head(store))
        assert ds.version == probe.version and len(ds.videos) == 1
        assert verify(ds).ok
        if total is None:
            total = _count(
                faulty_fs,
                "write",
                lambda: Dataset(store, read_head(store)).videos.extend(sources),
            )
            for p in set(_objects(fs, root)) - set(before):  # undo the counting append
                fs.rm_file(p)
            fs.pipe_file(f"{root}/log/hint.json", before[f"{root}/log/hint.json"])
            newest = keys.record_key(probe.version + 1)
            assert newest not in {p.split(f"{root}/", 1)[1] for p in before}
        k += 1
    assert total >= 7  # 4 chunks, the segment, the commit record, the hint


def test_every_single_write_fault_is_retried(faulty, corpus):
    faulty_fs, store, _, _ = faulty
    sources = [str(corpus["hevc"])]
    total = _count(
        faulty_fs,
        "write",
        lambda: Dataset(store, read_head(store)).videos.extend(sources),
    )
    for k in range(total):
        faulty_fs.plan("write", k, "timeout", persistent=False)
        Dataset(store, read_head(store)).videos.extend(sources)
        FAULTS.append(f"write {k} once")
        faulty_fs.disarm()
    ds = Dataset(store, read_head(store))
    assert len(ds.videos) == 1 + 1 + total  # the counting append, then one per fault
    assert verify(ds).ok


@pytest.mark.parametrize(
    ("mode", "persistent"), [("error", True), ("timeout", False), ("short", False)]
)
def test_every_read_fault(faulty, corpus, oracle, mode, persistent):
    faulty_fs, store, _, _ = faulty
    expected = oracle(corpus["h264_bframes"]).hashes()
    wanted = [0, 13, 30, 59]  # four GOPs: four ranged reads

    def read():
        ds = Dataset(store, read_head(store))
        return ds.videos[0, wanted].numpy()

    total = _count(faulty_fs, "read", read)
    for k in range(total):
        faulty_fs.plan("read", k, mode, persistent)
        outcome = _read_outcome(read)
        if isinstance(outcome, HubcliError):  # a clear error...
            assert isinstance(outcome, (StorageError, CorruptDatasetError)), outcome
            assert persistent or mode == "short"  # a single error or timeout is retried
        else:  # ...or the right frames, never wrong ones
            assert [frame_hash(f) for f in outcome] == [expected[i] for i in wanted]
        FAULTS.append(f"read {k} {mode}")
        faulty_fs.disarm()


def _read_outcome(read):
    try:
        return read()
    except HubcliError as exc:
        return exc


def test_a_disk_that_fills_up_mid_write(tmp_path, corpus, monkeypatch):
    """ENOSPC halfway through a chunk: a short write on disk. Nothing is published."""
    root = tmp_path / "ds"
    hubcli.empty(root).create_tensor("videos")
    from support.helpers import snapshot

    before = snapshot(root)
    real_write = None

    class Full:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            self.f.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.f, name)

    original = LocalStore._temp_file

    from contextlib import contextmanager

    @contextmanager
    def full_temp_file(self, key):
        with original(self, key) as (folder, temp, name, f):
            yield folder, temp, name, Full(f)

    monkeypatch.setattr(LocalStore, "_temp_file", full_temp_file)
    with pytest.raises(StorageError, match="No space left on device"):
        hubcli.load(root).videos.append(str(corpus["hevc"]))
    monkeypatch.undo()
    assert snapshot(root) == before
    FAULTS.append("enospc")
    del real_write


def test_faults_were_injected():
    print(f"\nstorage faults injected: {len(FAULTS)}")
    assert len(FAULTS) >= 40
