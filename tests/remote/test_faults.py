"""Transient faults are retried, persistent ones fail cleanly; commits stay atomic with
two writers; refused credentials are named. All against real servers (moto, proxy)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

import hubcli
from support.clirun import assert_user_error, hubcli_run
from support.media import frame_hash
from support.servers import Fault, MotoS3Process


def _dataset(s3, corpus, n=1):
    url = f"s3://{s3.new_bucket()}/ds"
    ds = hubcli.empty(url)
    ds.create_tensor("videos")
    if n:
        ds.videos.extend([str(corpus["h264_bframes"])] * n)
    return url


def _on(method, part):
    return lambda m, path: m == method and part in path


def test_transient_write_faults_are_retried(s3, corpus):
    url = _dataset(s3, corpus, n=0)
    s3.proxy.faults += [
        Fault(_on("PUT", "/chunks/"), 2, 503),
        Fault(_on("PUT", "/log/0"), 1, 0),
    ]
    hubcli.load(url).videos.append(str(corpus["hevc"]))
    assert [e.status for e in s3.proxy.requests("PUT", "/chunks/")] == [503, 503, 200]
    assert [e.status for e in s3.proxy.requests("PUT", "/log/0")][-2:] == [0, 200]
    assert len(hubcli.load(url).videos) == 1


def test_transient_read_faults_are_retried(s3, corpus, oracle):
    url = _dataset(s3, corpus)
    ds = hubcli.load(url)
    s3.proxy.faults += [
        Fault(_on("GET", "/chunks/"), 1, 0),
        Fault(_on("GET", "/segments/"), 1, 500),
    ]
    frame = ds.videos[0, 33].numpy()
    assert frame_hash(frame) == oracle(corpus["h264_bframes"]).hashes()[33]
    assert 0 in [e.status for e in s3.proxy.requests("GET", "/chunks/")]


def test_a_lost_commit_reply_is_not_a_conflict(s3, corpus):
    """The commit record PUT lands but its answer is lost: the retry meets our own record,
    and the append must neither fail nor land twice."""
    url = _dataset(s3, corpus, n=0)
    s3.proxy.faults.append(Fault(_on("PUT", "/log/0"), 1, -1))
    hubcli.load(url).videos.append(str(corpus["hevc"]))
    # The record's answer was lost (-1), then the retry went through.
    assert [e.status for e in s3.proxy.requests("PUT", "/log/0")][-2] == -1
    ds = hubcli.load(url)
    assert len(ds.videos) == 1 and ds.version == 2


def test_a_persistent_write_fault_changes_nothing(s3, corpus):
    url = _dataset(s3, corpus)
    bucket = url[5:].split("/")[0]
    before = s3.keys(bucket)
    s3.proxy.faults.append(Fault(_on("PUT", "/log/0"), 100, 500))
    run = hubcli_run("append", url, "videos", str(corpus["hevc"]))
    assert_user_error(run, f"cannot write {url}/log/00000000000000000003.json")
    s3.proxy.faults.clear()
    assert s3.keys(bucket) == before
    assert len(hubcli.load(url).videos) == 1


def test_a_persistent_read_fault_is_a_clear_error(s3, corpus, tmp_path):
    url = _dataset(s3, corpus)
    s3.proxy.faults.append(Fault(_on("GET", "/chunks/"), 100, 503))
    run = hubcli_run("export", url, "videos[0, 5]", "-o", str(tmp_path / "f.npy"))
    assert_user_error(run, f"cannot read {url}/tensors/videos/chunks/")
    assert not (tmp_path / "f.npy").exists()


_WRITER = textwrap.dedent(
    """
    import sys, hubcli
    url, name = sys.argv[1], sys.argv[2]
    for source in sys.argv[3:]:
        hubcli.load(url).videos.append(source)
    """
)


def test_two_processes_append_at_once(s3, corpus):
    url = _dataset(s3, corpus, n=0)
    sources = {
        "a": [str(corpus[n]) for n in ("h264_bframes", "hevc", "audio")],
        "b": [str(corpus[n]) for n in ("fullrange_bt709", "faststart", "vfr")],
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, url, name, *paths], stderr=subprocess.PIPE, text=True
        )
        for name, paths in sources.items()
    ]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    ds = hubcli.load(url)
    names = [s.sample_info["filename"] for s in ds.videos]
    assert sorted(names) == sorted(sources["a"] + sources["b"])  # every sample, once
    assert ds.version == 1 + 6
    for writer in sources.values():  # each writer's samples in its own order
        assert [n for n in names if n in writer] == writer


@pytest.fixture(scope="module")
def strict_s3():
    """A second moto server, as its own process, that checks signatures: keys that do
    not belong to an IAM user are refused with 403."""
    server = MotoS3Process()
    yield server
    server.stop()


def test_refused_credentials_are_named(strict_s3, tmp_path):
    creds = {
        "aws_access_key_id": "AKIAWRONGWRONGWRONG",
        "aws_secret_access_key": "very-secret-value",
        "endpoint_url": strict_s3.url,
        "region": "us-east-1",
    }
    with pytest.raises(hubcli.errors.CredentialsError, match="access denied to s3://any-bucket/ds"):
        hubcli.load("s3://any-bucket/ds", creds=creds)
    creds_file = tmp_path / "creds.json"
    creds_file.write_text(json.dumps(creds))
    run = hubcli_run("info", "s3://any-bucket/ds", "--creds-file", str(creds_file))
    assert_user_error(
        run, "access denied to s3://any-bucket/ds/log/hint.json; set AWS_ACCESS_KEY_ID"
    )
    assert "very-secret-value" not in run.stderr and "AKIAWRONG" not in run.stderr
