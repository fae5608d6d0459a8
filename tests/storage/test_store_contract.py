"""One contract, every backend (zarr's StoreTests, fsspec's abstract tests)."""

from __future__ import annotations

import threading
from pathlib import Path

import fsspec
import pytest

from hubcli.errors import StorageError
from hubcli.storage import FsspecStore, LocalStore, MemoryStore, Store


class StoreContract:
    """Subclasses provide ``store`` and ``raw_get``/``raw_put`` that bypass the store."""

    @pytest.fixture
    def store(self, tmp_path) -> Store:
        raise NotImplementedError

    def raw_get(self, store, key: str) -> bytes | None:
        raise NotImplementedError

    def raw_put(self, store, key: str, data: bytes) -> None:
        raise NotImplementedError

    def test_put_get(self, store):
        store.put("a/b.bin", b"hello")
        assert store.get("a/b.bin") == b"hello" == self.raw_get(store, "a/b.bin")
        store.put("a/b.bin", b"bye")
        assert store.get("a/b.bin") == b"bye"

    def test_get_missing(self, store):
        with pytest.raises(FileNotFoundError):
            store.get("missing")
        with pytest.raises(FileNotFoundError):
            store.get_range("missing", 0, 1)
        with pytest.raises(FileNotFoundError):
            store.size("missing")
        assert not store.exists("missing")

    def test_ranges(self, store):
        self.raw_put(store, "r", bytes(range(100)))
        assert store.get_range("r", 10, 13) == bytes([10, 11, 12])
        assert store.get_range("r", 95, 200) == bytes(range(95, 100))
        assert store.get_ranges("r", [(0, 2), (50, 51)]) == [b"\x00\x01", b"\x32"]
        assert b"".join(store.iter_range("r", 3, 90, block=7)) == bytes(range(3, 90))
        assert store.size("r") == 100 and store.exists("r")

    def test_put_if_absent(self, store):
        store.put_if_absent("v/1", b"first")
        with pytest.raises(FileExistsError):
            store.put_if_absent("v/1", b"second")
        assert store.get("v/1") == b"first"

    def test_put_if_absent_race_has_one_winner(self, store):
        wins, barrier = [], threading.Barrier(8)

        def attempt(n: int) -> None:
            barrier.wait()
            try:
                store.put_if_absent("race", str(n).encode())
                wins.append(n)
            except FileExistsError:
                pass

        threads = [threading.Thread(target=attempt, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(wins) == 1 and store.get("race") == str(wins[0]).encode()

    def test_writer_publishes_only_on_success(self, store):
        with store.open_writer("w/big") as f:
            f.write(b"x" * 1000)
            assert self.raw_get(store, "w/big") is None
        assert store.get("w/big") == b"x" * 1000
        with pytest.raises(RuntimeError), store.open_writer("w/failed") as f:
            f.write(b"partial")
            raise RuntimeError("boom")
        assert self.raw_get(store, "w/failed") is None
        assert store.list("w/") == ["w/big"]

    def test_list_and_delete(self, store):
        for key in ["x/1", "x/2", "x/y/3", "z"]:
            store.put(key, b".")
        assert store.list("x/") == ["x/1", "x/2", "x/y/3"]
        assert store.list() == ["x/1", "x/2", "x/y/3", "z"]
        assert store.list("nothing/") == []
        store.delete("x/1")
        store.delete("x/1")  # absent: no error
        store.delete_prefix("x/")
        assert store.list() == ["z"]

    @pytest.mark.parametrize(
        "key", ["../escape", "/abs", "a/../../b", "a//b", "a\\b", "nul\x00", "", "a/./b"]
    )
    def test_keys_cannot_escape(self, store, key):
        with pytest.raises(StorageError, match="invalid storage key"):
            store.put(key, b"x")
        with pytest.raises(StorageError):
            store.get(key)


class TestLocalStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path) -> Store:
        return LocalStore(tmp_path / "root")

    def raw_get(self, store, key):
        path = Path(store.root, key)
        return path.read_bytes() if path.is_file() else None

    def raw_put(self, store, key, data):
        path = Path(store.root, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def test_no_temp_files_left(self, store):
        store.put("a", b"1")
        store.put_if_absent("b", b"2")
        with pytest.raises(FileExistsError):
            store.put_if_absent("b", b"3")
        assert sorted(p.name for p in Path(store.root).iterdir()) == ["a", "b"]


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path) -> Store:
        return MemoryStore()

    def raw_get(self, store, key):
        return store._data.get(key)

    def raw_put(self, store, key, data):
        store._data[key] = data


class TestFsspecStore(StoreContract):
    """The generic fsspec backend, over fsspec's own in-memory filesystem."""

    @pytest.fixture
    def store(self, tmp_path) -> Store:
        fs = fsspec.filesystem("memory", skip_instance_cache=True)
        fs.store.clear()
        fs.pseudo_dirs.clear()
        fs.pseudo_dirs.append("")
        return FsspecStore(fs, f"/contract-{tmp_path.name}", f"memory://contract-{tmp_path.name}")

    def raw_get(self, store, key):
        path = f"{store.root}/{key}"
        return bytes(store.fs.cat_file(path)) if store.fs.exists(path) else None

    def raw_put(self, store, key, data):
        store.fs.pipe_file(f"{store.root}/{key}", data)


def test_a_dataset_on_the_fsspec_backend(tmp_path, corpus):
    """The core runs unchanged over FsspecStore: what remote datasets will use."""
    from hubcli.core.dataset import Dataset
    from hubcli.core.versions import read_head
    from hubcli.format import keys
    from hubcli.format.manifest import Manifest, encode_anchor

    fs = fsspec.filesystem("memory", skip_instance_cache=True)
    store = FsspecStore(fs, f"/ds-{tmp_path.name}", "memory://ds")
    store.put_if_absent(keys.version_key(0), encode_anchor(Manifest("0" * 32, 0, "now", anchor=0)))
    ds = Dataset(store, read_head(store))
    ds.create_tensor("videos", sample_compression="webm")
    ds.videos.append(str(corpus["vp9"]))
    again = Dataset(store, read_head(store))
    assert again.videos[0, 30:33].numpy().shape == (3, 64, 96, 3)


class _BucketStore(StoreContract):
    service_fixture = ""

    @pytest.fixture
    def store(self, request) -> Store:
        from hubcli.storage.resolve import open_store

        service = request.getfixturevalue(self.service_fixture)
        self.service = service
        return open_store(f"{service.scheme}://{service.new_bucket()}/contract")

    def raw_get(self, store, key):
        path = f"{store.root}/{key}"
        return bytes(self.service.fs.cat_file(path)) if self.service.fs.exists(path) else None

    def raw_put(self, store, key, data):
        self.service.fs.pipe_file(f"{store.root}/{key}", data)


class TestS3Store(_BucketStore):
    """moto's S3: create-if-absent is a PUT with If-None-Match: *."""

    service_fixture = "s3"


class TestGcsStore(_BucketStore):
    """fake-gcs-server: create-if-absent is an upload with ifGenerationMatch=0."""

    service_fixture = "gcs"
