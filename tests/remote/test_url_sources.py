"""Appending videos from URLs: http(s) (with and without Range), s3:// and gcs://."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import hubcli
from support.clirun import assert_user_error, hubcli_run
from support.helpers import snapshot
from support.media import frame_hash


@pytest.fixture
def local_ds(tmp_path):
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("videos", sample_compression="mp4")
    return ds


@pytest.mark.parametrize("ranges", [True, False], ids=["range", "no-range"])
def test_http_sources(local_ds, http_corpus, corpus, oracle, ranges):
    server = http_corpus[0] if ranges else http_corpus[1]
    url = f"{server.url}/h264_bframes_editlist.mp4"
    local_ds.videos.append(hubcli.read(url))
    sample = local_ds.videos[0]
    assert sample.sample_info["filename"] == url
    expected = oracle(corpus["h264_bframes_editlist"])
    assert [frame_hash(f) for f in sample.numpy()] == expected.hashes()
    # The stored bytes are the file's, byte for byte.
    chunk = next((Path(local_ds.path) / "tensors/videos/chunks").iterdir())
    assert corpus["h264_bframes_editlist"].read_bytes() in chunk.read_bytes()


def test_s3_and_gcs_sources(local_ds, s3, gcs, corpus, oracle):
    s3_bucket, gcs_bucket = s3.new_bucket(), gcs.new_bucket()
    s3.fs.put_file(str(corpus["hevc"]), f"{s3_bucket}/in/hevc.mp4")
    gcs.fs.put_file(str(corpus["audio"]), f"{gcs_bucket}/in/audio.mp4")
    local_ds.videos.extend(
        [f"s3://{s3_bucket}/in/hevc.mp4", hubcli.read(f"gs://{gcs_bucket}/in/audio.mp4")]
    )
    assert [s.sample_info["filename"] for s in local_ds.videos] == [
        f"s3://{s3_bucket}/in/hevc.mp4",
        f"gs://{gcs_bucket}/in/audio.mp4",
    ]
    assert frame_hash(local_ds.videos[0, 30].numpy()) == oracle(corpus["hevc"]).hashes()[30]
    assert frame_hash(local_ds.videos[1, -1].numpy()) == oracle(corpus["audio"]).hashes()[-1]


def test_url_sources_from_the_cli(tmp_path, http_corpus, s3, corpus):
    bucket = s3.new_bucket()
    s3.fs.put_file(str(corpus["h264_bframes"]), f"{bucket}/a.mp4")
    ds = tmp_path / "ds"
    hubcli.empty(ds).create_tensor("videos")
    listing = f"{http_corpus[0].url}/hevc.mp4\ns3://{bucket}/a.mp4\n"
    run = hubcli_run("append", str(ds), "videos", "--from-file", "-", "--json", input=listing)
    assert run.code == 0, run.stderr
    assert run.json()["samples_added"] == 2


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("{http}/missing.mp4", "{http}/missing.mp4: no such object"),
        ("{http}/notes.mp4", "{http}/notes.mp4: not a video file"),
        ("s3://{bucket}/nope.mp4", "s3://{bucket}/nope.mp4: no such object"),
        ("s3://no-such-bucket-here/x.mp4", "s3://no-such-bucket-here/x.mp4: no such object"),
        ("gs://{gbucket}/nope.mp4", "gs://{gbucket}/nope.mp4: no such object"),
        ("http://127.0.0.1:9/x.mp4", "cannot download http://127.0.0.1:9/x.mp4"),
    ],
)
def test_bad_url_sources(local_ds, http_corpus, s3, gcs, url, needle):
    names = {"http": http_corpus[0].url, "bucket": s3.new_bucket(), "gbucket": gcs.new_bucket()}
    url, needle = url.format(**names), needle.format(**names)
    before = snapshot(Path(local_ds.path))
    with pytest.raises(hubcli.HubcliError, match=re.escape(needle)):
        local_ds.videos.append(url)
    assert snapshot(Path(local_ds.path)) == before
    assert_user_error(hubcli_run("append", local_ds.path, "videos", url), needle)


def test_secrets_in_urls_are_not_stored(local_ds, http_corpus):
    url = f"{http_corpus[0].url}/hevc.mp4?X-Amz-Signature=s3cr3t&part=1"
    local_ds.videos.append(url)
    assert (
        local_ds.videos[0].sample_info["filename"]
        == f"{http_corpus[0].url}/hevc.mp4?X-Amz-Signature=REDACTED&part=1"
    )
    root = Path(local_ds.path)
    assert all(b"s3cr3t" not in p.read_bytes() for p in root.rglob("*") if p.is_file())
