"""Label tensors on S3 (moto behind a counting proxy) and GCS (fake-gcs-server): all
labels of a 100,000-sample tensor in at most 4 requests after open; one label of a
large segment by ranged reads (header, index, one block), not the whole segment."""

from __future__ import annotations

import json

import numpy as np
import pytest

import hubcli
from hubcli.core.verify import verify
from hubcli.format.values import BLOCK

COUNT = 100_000


def _gets(s3, part: str = "") -> list:
    return [e for e in s3.proxy.take() if e.method == "GET" and part in e.path]


@pytest.fixture(scope="module")
def labels_on_s3(s3):
    url = f"s3://{s3.new_bucket()}/ds"
    ds = hubcli.empty(url)
    ds.create_tensor("labels", htype="class_label", class_names=["cat", "dog", "bird"])
    values = (np.arange(COUNT) * 7919) % 3
    ds.labels.extend(values)  # one extend: one segment of 800 kB
    return url, values


def test_all_labels_after_open_in_at_most_4_requests(s3, labels_on_s3):
    url, values = labels_on_s3
    ds = hubcli.load(url)
    s3.proxy.take()
    got = ds.labels.numpy()
    requests = s3.proxy.take()
    assert got.dtype == np.int64 and np.array_equal(got, values)
    assert 1 <= len(requests) <= 4, [(e.method, e.path, e.range) for e in requests]
    names = ["cat", "dog", "bird"]
    assert ds.labels.data()["text"][:5] == [[names[v]] for v in values[:5]]
    assert s3.proxy.take() == []  # decoded once, kept: .data() needs no request


def test_one_label_costs_one_request(s3, labels_on_s3):
    url, values = labels_on_s3
    ds = hubcli.load(url)
    s3.proxy.take()
    assert ds.labels[77_777].numpy() == values[77_777]
    requests = s3.proxy.take()
    assert len(requests) == 1  # the segment is under the whole-read threshold
    assert ds.labels[-1].numpy() == values[-1] and s3.proxy.take() == []


def test_labels_appended_a_few_at_a_time_still_read_in_at_most_4_requests(s3):
    """A tensor grown by one small append per CI run: its small segments are merged as
    they pile up, so reading it whole stays a few requests, not one per append."""
    url = f"s3://{s3.new_bucket()}/ds"
    ds = hubcli.empty(url)
    ds.create_tensor("labels", htype="class_label", class_names=["cat", "dog"])
    values = [(i * 31) % 2 for i in range(16 * 7)]
    for start in range(0, len(values), 7):
        ds.labels.extend(values[start : start + 7])
    again = hubcli.load(url)
    s3.proxy.take()
    assert again.labels.numpy().tolist() == values
    requests = s3.proxy.take()
    assert 1 <= len(requests) <= 4, [(e.method, e.path) for e in requests]
    assert verify(again).ok


def _texts(count: int, ragged: bool) -> list[str]:
    return [f"caption {i:07d} " + ("x" * (i % 97) if ragged else "y" * 48) for i in range(count)]


@pytest.mark.slow
@pytest.mark.parametrize("ragged", [False, True], ids=["one-length", "ragged"])
def test_one_value_of_a_big_segment_is_a_ranged_read(s3, ragged, monkeypatch):
    """Texts over the whole-read threshold (lowered from 4 MiB to 256 kB to keep the
    test small): one sample costs the header, (ragged) the shapes, and the checksum
    blocks that hold it, never the whole segment."""
    monkeypatch.setattr("hubcli.core.value_reader.WHOLE_SEGMENT_BYTES", 256 << 10)
    count = 20_000
    texts = _texts(count, ragged)
    url = f"s3://{s3.new_bucket()}/ds"
    ds = hubcli.empty(url)
    ds.create_tensor("caps", htype="text")
    ds.caps.extend(texts)
    [(_key, size)] = [(k, n) for k, n in s3.keys(url[5:]).items() if "/segments/" in k]
    assert size > 4 * (256 << 10)  # else it would be read whole

    again = hubcli.load(url)
    s3.proxy.take()
    assert again.caps[12_345].numpy() == texts[12_345]
    gets = [e for e in s3.proxy.take() if e.method == "GET"]
    sent = sum(e.sent for e in gets)
    index = count * 9 if ragged else 0  # ndim (1 byte) and dims (8 bytes) per sample
    header = 64 * 1024  # generous: the prefix, the msgpack map and one CRC per block
    assert all(e.range for e in gets), [(e.path, e.range) for e in gets]
    assert len(gets) == (3 if ragged else 2), [(e.path, e.range) for e in gets]
    assert sent <= header + index + 2 * BLOCK, sent
    assert sent < size / 4

    s3.proxy.take()  # the index is kept: another sample costs its blocks alone
    assert again.caps[5].numpy() == texts[5]
    gets = [e for e in s3.proxy.take() if e.method == "GET"]
    assert len(gets) == 1 and sum(e.sent for e in gets) <= 2 * BLOCK
    assert again.caps[19_990:].numpy().tolist() == texts[19_990:]


def test_gcs_round_trip_of_every_htype(gcs):
    url = f"gcs://{gcs.new_bucket()}/ds"
    ds = hubcli.empty(url)
    ds.create_tensor("labels", htype="class_label", class_names=["cat"])
    ds.create_tensor("caps", htype="text")
    ds.create_tensor("meta", htype="json")
    ds.create_tensor("boxes", htype="generic", dtype="float32")
    ds.extend(
        {
            "labels": ["cat", ["dog", 0], 5],
            "caps": ["日本", "", "a\nb"],
            "meta": [{"k": [1, None]}, [], "s"],
            "boxes": [np.ones((2, 4), np.float32), np.zeros((0, 4), np.float32), [[1, 2, 3, 4]]],
        }
    )
    del ds.caps[1]
    again = hubcli.load(url)
    assert [a.tolist() for a in again.labels.numpy(aslist=True)] == [0, [1, 0], 5]
    assert again.labels.info["class_names"] == ["cat", "dog"]
    assert again.caps.numpy().tolist() == ["日本", "a\nb"]
    assert json.dumps(again.meta.numpy()) == json.dumps([{"k": [1, None]}, [], "s"])
    boxes = again.boxes.numpy(aslist=True)
    assert [b.shape for b in boxes] == [(2, 4), (0, 4), (1, 4)]
    assert boxes[2].tolist() == [[1, 2, 3, 4]] and boxes[0].dtype == np.float32
    assert again[1].labels.data()["text"] == ["dog", "cat"]
    assert len(again) == 2 and "note" in again.info()
    assert again.compact() and hubcli.load(url).caps.numpy().tolist() == ["日本", "a\nb"]
    assert verify(hubcli.load(url)).ok
