"""Reads decode only what they need, fetch only the bytes they need, and detect damage."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

import hubcli
from hubcli.core.dataset import Dataset
from hubcli.core.versions import read_head
from hubcli.errors import CorruptDatasetError
from hubcli.storage import LocalStore
from support.media import LONG, frame_hash
from support.stores import CountingStore


@pytest.fixture(scope="module")
def long_ds(tmp_path_factory, video) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("long") / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("videos")
    src = video(LONG)
    ds.videos.append(str(src))
    return root, src


def _counting(root: Path) -> tuple[Dataset, CountingStore]:
    store = CountingStore(LocalStore(root))
    return Dataset(store, read_head(store)), store


def _packet_bytes(ds: Dataset, first: int, last: int) -> int:
    table = ds.videos.reader().frame_table(0)
    return int(table.size[first : last + 1].sum())


def test_one_frame_reads_only_its_gop(long_ds, oracle):
    root, src = long_ds
    ds, store = _counting(root)
    table = ds.videos.reader().frame_table(0)
    total = int(table.size.sum())
    store.reads.clear()
    frame = ds.videos[0, 165].numpy()
    assert frame_hash(frame) == oracle(src).hashes()[165]
    video_bytes = store.bytes_read("/chunks/")
    # Frame 165 is in the GOP starting at frame 150 (GOP 30): at most that GOP's packets.
    keys = np.flatnonzero(table.keyframe)
    packet = int(table.frame_packet[165])
    start = int(keys[keys <= packet][-1])
    stop = int(keys[keys > packet][0]) if (keys > packet).any() else table.packet_count
    assert video_bytes <= _packet_bytes(ds, start, stop - 1)
    assert video_bytes < total / 5


def test_shape_and_info_read_no_video_bytes(long_ds):
    root, _ = long_ds
    ds, store = _counting(root)
    assert ds.videos[0].shape == (300, 96, 160, 3)
    assert ds.videos[0].sample_info["shape"] == [300, 96, 160, 3]
    assert ds.videos[0, 10:20].shape == (10, 96, 160, 3)
    assert store.bytes_read("/chunks/") == 0
    ds.videos[0, 10:20].timestamp
    assert store.bytes_read("/chunks/") == 0


def test_scattered_frames_decode_each_gop_once(long_ds, oracle):
    root, src = long_ds
    ds, store = _counting(root)
    table = ds.videos.reader().frame_table(0)
    store.reads.clear()
    wanted = [280, 5, 151, 5, 152, 280]
    got = ds.videos[0, wanted].numpy()
    hashes = oracle(src).hashes()
    assert [frame_hash(f) for f in got] == [hashes[i] for i in wanted]
    # Every packet read at most once for the whole call.
    spans = sorted((r.start, r.end) for r in store.reads if "/chunks/" in r.key)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    assert store.bytes_read("/chunks/") < int(table.size.sum()) / 2


def test_damaged_chunk_is_detected_not_decoded(tmp_path, corpus):
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("videos")
    ds.videos.append(str(corpus["h264_bframes"]))
    chunk = next((tmp_path / "ds" / "tensors" / "videos" / "chunks").iterdir())
    data = bytearray(chunk.read_bytes())
    table = ds.videos.reader().frame_table(0)
    hit = int(table.offset[20]) + 8 + 3  # a byte inside packet 20 (8 = chunk magic)
    data[hit] ^= 0xFF
    chunk.write_bytes(bytes(data))
    fresh = hubcli.load(tmp_path / "ds")
    assert fresh.videos[0, 0].numpy().shape == (64, 96, 3)  # GOP 0 is intact
    with pytest.raises(CorruptDatasetError, match="packet 20 fails its checksum"):
        fresh.videos[0].numpy()


def test_damaged_segment_is_detected(tmp_path, corpus):
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("videos")
    ds.videos.append(str(corpus["h264_bframes"]))
    seg = next((tmp_path / "ds" / "tensors" / "videos" / "segments").iterdir())
    original = seg.read_bytes()
    header_size = ds.manifest.tensors[0].layout.spine[0][0].header_size
    for position, pattern in [(40, "header checksum"), (header_size + 30, "frame table checksum")]:
        data = bytearray(original)
        data[position] ^= 0x55
        seg.write_bytes(bytes(data))
        with pytest.raises(CorruptDatasetError, match=pattern):
            hubcli.load(tmp_path / "ds").videos[0, 3].numpy()
    seg.write_bytes(original)
    assert hubcli.load(tmp_path / "ds").videos[0, 3].numpy().shape == (64, 96, 3)
