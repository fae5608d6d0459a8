"""The manifest and the version rules (format_spec/metadata.md, versioning.md)."""

from __future__ import annotations

import json

import pytest

import hubcli
from helpers import snapshot
from hubcli.errors import CorruptDatasetError, UnsupportedFormatError
from hubcli.format.manifest import Manifest, TensorMeta, encode_manifest, parse_manifest


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


def test_roundtrip():
    m = Manifest("0123456789abcdef0123456789abcdef", 3, "2026-11-25T12:00:00.000000Z")
    m = m.with_tensor(TensorMeta("videos", "video", "mkv", 0))
    m = m.with_tensor(
        m.tensor("videos").with_segment(
            "tensors/videos/segments/" + "a" * 32 + ".seg", 2, 1000, 400, "b" * 64
        )
    )
    again = parse_manifest(encode_manifest(m), "x")
    assert again == m
    assert again.tensors[0].segments[0].first == 0 and again.tensors[0].length == 2


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
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("videos")
    ds.videos.append(str(corpus["h264_bframes"]))
    manifest = json.loads((tmp_path / "ds" / "versions" / f"{2:020d}.json").read_text())
    manifest.update(format_version="1.7", version=3, added_in_1_7={"ignored": True})
    _write_version(tmp_path / "ds", 3, manifest)
    newer = hubcli.load(tmp_path / "ds")
    assert newer.version == 3 and newer.videos[0, 0].numpy().shape == (64, 96, 3)
    before = snapshot(tmp_path / "ds")
    with pytest.raises(UnsupportedFormatError, match="can be read but not written"):
        newer.videos.append(str(corpus["hevc"]))
    assert snapshot(tmp_path / "ds") == before


def test_newest_version_wins_and_junk_is_ignored(tmp_path):
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("a")
    ds.create_tensor("b")
    (tmp_path / "ds" / "versions" / ".00000000000000000003.json.1234.partial").write_text("{")
    (tmp_path / "ds" / "versions" / "notes.txt").write_text("hi")
    assert list(hubcli.load(tmp_path / "ds").tensors) == ["a", "b"]


def test_manifest_version_must_match_its_name(tmp_path):
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("a")
    path = tmp_path / "ds" / "versions" / f"{1:020d}.json"
    manifest = json.loads(path.read_text())
    manifest["version"] = 7
    path.write_text(json.dumps(manifest))
    with pytest.raises(CorruptDatasetError, match="holds version 7"):
        hubcli.load(tmp_path / "ds")


def test_a_segment_cannot_point_outside_its_tensor(tmp_path, corpus):
    """A header naming another object of the dataset is corrupt, even with a valid checksum."""
    import hashlib

    import msgpack

    from hubcli.format.segment import PREFIX, SEGMENT_MAGIC

    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("videos")
    ds.videos.append(str(corpus["h264_bframes"]))
    ref = ds.manifest.tensors[0].segments[0]
    seg_path = tmp_path / "ds" / ref.key
    data = seg_path.read_bytes()
    header = msgpack.unpackb(data[16 : ref.header_size])
    header["chunks"][0]["key"] = "versions/00000000000000000000.json"
    packed = msgpack.packb(header)
    new_header = PREFIX.pack(SEGMENT_MAGIC, len(packed)) + packed
    seg_path.write_bytes(new_header + data[ref.header_size :])
    manifest_path = tmp_path / "ds" / "versions" / f"{2:020d}.json"
    manifest = json.loads(manifest_path.read_text())
    seg = manifest["tensors"][0]["segments"][0]
    seg.update(
        header_size=len(new_header),
        size=len(new_header) + len(data) - ref.header_size,
        header_sha256=hashlib.sha256(new_header).hexdigest(),
    )
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(CorruptDatasetError, match="not a chunk key of tensor 'videos'"):
        hubcli.load(tmp_path / "ds").videos[0].shape


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
