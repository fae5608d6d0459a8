"""Manifests, states, commit records and the version rules (format_spec/metadata.md,
log.md, versioning.md)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import hubcli
from hubcli.errors import CorruptDatasetError, UnsupportedFormatError
from hubcli.format.layout import Layout, NodePointer, SegmentEntry
from hubcli.format.manifest import (
    CredsKey,
    Manifest,
    TensorMeta,
    encode_anchor,
    encode_state,
    parse_manifest,
    parse_state,
)
from support.helpers import snapshot

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _manifest_dict(**changes):
    base = {
        "format": "hubcli",
        "format_version": "1.0",
        "dataset_id": "0123456789abcdef0123456789abcdef",
        "version": 0,
        "created_at": "2026-11-25T12:00:00.000000Z",
        "tensors": [],
    }
    base.update(changes)
    return base


def _parse(obj) -> Manifest:
    return parse_manifest(json.dumps(obj).encode(), "test.json")


def _state() -> Manifest:
    spine = (
        (SegmentEntry("a" * 32, 2, 400, 1000), SegmentEntry("c" * 32, 1, 300, 900, "b" * 64)),
        (NodePointer("d" * 32, 128),),
    )
    m = Manifest("0123456789abcdef0123456789abcdef", 3, "2026-11-25T12:00:00.000000Z", anchor=1)
    m = m.with_tensor(TensorMeta("videos", "video", "mkv", "videos", Layout(spine, (5, 9))))
    return m.with_tensor(TensorMeta("links", "link[video]", None, "old_links"))


def test_state_roundtrip():
    m = _state()
    again = parse_state(encode_state(m), "x")
    assert again == m
    assert again.tensors[0].length == 128 + 3 - 2 and again.tensors[1].dir == "old_links"
    m = Manifest(m.dataset_id, 0, m.created_at, m.tensors, creds_keys=(CredsKey("K", True),))
    m = Manifest(m.dataset_id, 0, m.created_at, m.tensors, creds_keys=m.creds_keys, anchor=0)
    assert parse_manifest(encode_anchor(m), "anchor") == m


def test_the_anchor_is_refused_by_1x_readers_as_an_unknown_htype():
    """What a 1.0/1.1 reader does with an anchor: its tensor list names one tensor of an
    htype it does not know (format_spec/log.md §7)."""
    anchor = json.loads(encode_anchor(_state()))
    assert anchor["tensors"] == [
        {
            "name": "_log",
            "htype": "hubcli-1.2-log",
            "sample_compression": None,
            "length": 0,
            "segments": [],
        }
    ]
    legacy = dict(anchor, format_version="1.1")
    legacy.pop("state")
    with pytest.raises(UnsupportedFormatError, match="htype 'hubcli-1.2-log', unknown"):
        _parse(legacy)


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ({"format": "zarr"}, "'format' must be 'hubcli'"),
        ({"format_version": 1.0}, "format_version"),
        ({"format_version": "one"}, "not 'MAJOR.MINOR'"),
        ({"dataset_id": "xyz"}, "dataset_id"),
        ({"version": -1}, "'version' must be >= 0"),
        ({"version": True}, "'version' must be an integer"),
        ({"tensors": {}}, "'tensors' must be of type list"),
        ({"tensors": [{"name": "v"}]}, "missing field 'htype'"),
        (
            {
                "tensors": [
                    {
                        "name": "../v",
                        "htype": "video",
                        "sample_compression": "mp4",
                        "length": 0,
                        "segments": [],
                    }
                ]
            },
            "invalid tensor name",
        ),
        (
            {
                "tensors": [
                    {
                        "name": "v",
                        "htype": "video",
                        "sample_compression": "mp4",
                        "length": 2,
                        "segments": [],
                    }
                ]
            },
            "segments hold 0 samples, length is 2",
        ),
        (
            {
                "tensors": [
                    {
                        "name": "v",
                        "htype": "video",
                        "sample_compression": "mp4",
                        "length": 1,
                        "segments": [
                            {
                                "key": "tensors/w/segments/" + "a" * 32 + ".seg",
                                "first": 0,
                                "count": 1,
                                "size": 99,
                                "header_size": 20,
                                "header_sha256": "0" * 64,
                            }
                        ],
                    }
                ]
            },
            "not a segment key of tensor 'v'",
        ),
    ],
)
def test_invalid_manifests_are_corrupt(change, pattern):
    with pytest.raises(CorruptDatasetError, match=pattern):
        _parse(_manifest_dict(**change))


def test_not_json():
    with pytest.raises(CorruptDatasetError, match="not valid JSON"):
        parse_manifest(b"\xff{", "v.json")


def test_newer_major_is_refused():
    with pytest.raises(UnsupportedFormatError, match="format 2.0, this hubcli reads format 1.x"):
        _parse(_manifest_dict(format_version="2.0"))


def test_unknown_htype_is_refused_not_guessed():
    tensor = {
        "name": "v",
        "htype": "link[audio]",
        "sample_compression": "mp4",
        "length": 0,
        "segments": [],
    }
    with pytest.raises(UnsupportedFormatError, match="htype 'link\\[audio\\]', unknown"):
        _parse(_manifest_dict(tensors=[tensor]))


def _write_version(root, version: int, manifest: dict) -> None:
    (root / "versions" / f"{version:020d}.json").write_text(json.dumps(manifest))


def test_dataset_from_the_future_is_rejected(tmp_path):
    """Built from the spec's bytes, not from hubcli: a 2.0 dataset must not open."""
    root = tmp_path / "future"
    (root / "versions").mkdir(parents=True)
    _write_version(root, 0, _manifest_dict(format_version="2.0", tensors=[{"anything": "new"}]))
    with pytest.raises(UnsupportedFormatError, match="upgrade hubcli"):
        hubcli.load(root)


def test_newer_minor_reads_but_refuses_writes(tmp_path, corpus):
    """A record of a later minor (``"f": "1.7"``, a field this hubcli does not know) is
    read; writing after it is refused."""
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("videos")
    ds.videos.append(str(corpus["h264_bframes"]))
    record = json.loads((tmp_path / "ds" / "log" / f"{2:020d}.json").read_text())
    record.update(v=3, f="1.7", added_in_1_7={"ignored": True})
    (tmp_path / "ds" / "log" / f"{3:020d}.json").write_text(
        json.dumps(record).replace(record["ops"][0][2], "e" * 32)
    )
    newer = hubcli.load(tmp_path / "ds")
    assert newer.version == 3 and newer.videos[0, 0].numpy().shape == (64, 96, 3)
    before = snapshot(tmp_path / "ds")
    with pytest.raises(UnsupportedFormatError, match="can be read but not written"):
        newer.videos.append(str(corpus["hevc"]))
    assert snapshot(tmp_path / "ds") == before


def test_an_op_of_a_later_format_is_refused_not_guessed(tmp_path):
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("videos")
    (tmp_path / "ds" / "log" / f"{2:020d}.json").write_text(
        json.dumps({"v": 2, "t": "2030-01-01T00:00:00.000000Z", "ops": [["reshard", "videos"]]})
    )
    with pytest.raises(UnsupportedFormatError, match="op 'reshard' is unknown"):
        hubcli.load(tmp_path / "ds")


def test_newest_version_wins_and_junk_is_ignored(tmp_path):
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("a")
    ds.create_tensor("b")
    (tmp_path / "ds" / "versions" / ".00000000000000000003.json.1234.partial").write_text("{")
    (tmp_path / "ds" / "versions" / "notes.txt").write_text("hi")
    assert list(hubcli.load(tmp_path / "ds").tensors) == ["a", "b"]


def test_manifest_version_must_match_its_name(tmp_path):
    root = shutil.copytree(FIXTURES / "format-1.0", tmp_path / "ds")
    path = root / "versions" / f"{5:020d}.json"
    manifest = json.loads(path.read_text())
    manifest["version"] = 7
    path.write_text(json.dumps(manifest))
    with pytest.raises(CorruptDatasetError, match="holds version 7"):
        hubcli.load(root)


def test_record_version_must_match_its_name(tmp_path):
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("a")
    (tmp_path / "ds" / "log" / "hint.json").unlink()  # make readers replay the records
    path = tmp_path / "ds" / "log" / f"{1:020d}.json"
    record = json.loads(path.read_text())
    record["v"] = 7
    path.write_text(json.dumps(record))
    with pytest.raises(CorruptDatasetError, match="holds version 7"):
        hubcli.load(tmp_path / "ds")


def test_a_legacy_segment_cannot_point_outside_its_tensor(tmp_path):
    """A 1.0/1.1 header naming another object of the dataset is corrupt, even with a
    valid checksum (1.2 headers name chunks by id within the tensor's folder)."""
    import hashlib

    import msgpack

    from hubcli.format.segment import PREFIX, SEGMENT_MAGIC

    root = shutil.copytree(FIXTURES / "format-1.0", tmp_path / "ds")
    manifest_path = root / "versions" / f"{5:020d}.json"
    manifest = json.loads(manifest_path.read_text())
    seg = manifest["tensors"][0]["segments"][0]
    seg_path = root / seg["key"]
    data = seg_path.read_bytes()
    header = msgpack.unpackb(data[16 : seg["header_size"]])
    header["chunks"][0]["key"] = "versions/00000000000000000000.json"
    packed = msgpack.packb(header)
    new_header = PREFIX.pack(SEGMENT_MAGIC, len(packed)) + packed
    seg_path.write_bytes(new_header + data[seg["header_size"] :])
    seg.update(
        header_size=len(new_header),
        size=len(new_header) + len(data) - seg["header_size"],
        header_sha256=hashlib.sha256(new_header).hexdigest(),
    )
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(CorruptDatasetError, match="not a chunk key of tensor 'videos'"):
        hubcli.load(root).videos[0].shape


def test_unknown_compression_is_refused_not_guessed():
    tensor = {
        "name": "v",
        "htype": "video",
        "sample_compression": "mxf",
        "length": 0,
        "segments": [],
    }
    with pytest.raises(UnsupportedFormatError, match="sample_compression 'mxf', unknown"):
        _parse(_manifest_dict(tensors=[tensor]))


def test_trailing_newlines_do_not_validate():
    with pytest.raises(CorruptDatasetError):
        _parse(_manifest_dict(format_version="1.0\n"))
    with pytest.raises(CorruptDatasetError):
        _parse(_manifest_dict(dataset_id="0123456789abcdef0123456789abcdef\n"))
