"""A failed write changes nothing: inject a storage failure at every write of an append."""

from __future__ import annotations

import pytest

import hubcli
from hubcli.core.dataset import Dataset
from hubcli.core.versions import read_head
from hubcli.errors import StorageError
from hubcli.storage import LocalStore
from support.helpers import snapshot
from support.stores import FailingStore


def _dataset(root, fail_at: int) -> tuple[Dataset, FailingStore]:
    store = FailingStore(LocalStore(root), fail_at=fail_at)
    return Dataset(store, read_head(store)), store


def test_failure_at_every_write_leaves_the_dataset_unchanged(tmp_path, corpus, monkeypatch):
    # Small chunks, so that the append writes several of them.
    monkeypatch.setattr("hubcli.core.ingest.CHUNK_TARGET_BYTES", 20_000)
    sources = [str(corpus["h264_bframes"]), str(corpus["hevc"]), str(corpus["audio"])]

    probe = tmp_path / "probe"
    hubcli.empty(probe).create_tensor("videos")
    ds, counter = _dataset(probe, fail_at=-1)
    ds.videos.extend(sources)
    assert counter.writes >= 5  # 3 chunks, the segment, the commit record (and the hint)
    # The hint is written after the commit, as a cache: failing it fails nothing
    # (format_spec/log.md §5). Every write before it is a point of failure.
    points = [k for k, key in enumerate(counter.log) if key != "log/hint.json"]
    assert points == list(range(len(points)))

    root = tmp_path / "ds"
    hubcli.empty(root).create_tensor("videos")
    hubcli.load(root).videos.append(sources[0])
    before = snapshot(root)
    for k in points:
        target, store = _dataset(root, fail_at=k)
        with pytest.raises(StorageError, match="injected failure"):
            target.videos.extend(sources)
        assert snapshot(root) == before, (
            f"a failure at write {k} ({store.log[-1]}) changed the dataset"
        )

    # A failure writing the hint after the commit: the append landed, and readers
    # find it without the hint.
    target, store = _dataset(root, fail_at=len(points))
    target.videos.extend(sources)
    assert store.log[-1] == "log/hint.json" and len(hubcli.load(root).videos) == 4
