"""Datasets on S3 (moto) and GCS (fake-gcs-server): every operation that works locally."""

from __future__ import annotations

import numpy as np
import pytest

import hubcli
from support.clirun import assert_user_error, hubcli_run
from support.media import frame_hash


@pytest.fixture(params=["s3", "gcs"])
def service(request):
    return request.getfixturevalue(request.param)


@pytest.fixture
def remote_url(service):
    return f"{service.scheme}://{service.new_bucket()}/datasets/clips"


def test_python_api_on_a_bucket(remote_url, corpus, oracle):
    ds = hubcli.empty(remote_url)
    ds.create_tensor("videos", sample_compression="mp4")
    ds.videos.extend([str(corpus["h264_bframes"]), str(corpus["hevc"])])
    again = hubcli.load(remote_url)
    assert again.path == remote_url and len(again.videos) == 2
    assert again.videos[1].shape == (60, 64, 96, 3)
    frames = again.videos[0, 50:10:-9].numpy()
    assert [frame_hash(f) for f in frames] == oracle(corpus["h264_bframes"]).hashes()[50:10:-9]
    np.testing.assert_array_equal(
        again.videos[1, ::7].timestamp, oracle(corpus["hevc"]).timestamps[::7]
    )
    with pytest.raises(hubcli.errors.DatasetExistsError):
        hubcli.empty(remote_url)
    assert hubcli.empty(remote_url, overwrite=True).tensors == {}


def test_gs_scheme_is_gcs(gcs, corpus):
    bucket = gcs.new_bucket()
    hubcli.empty(f"gs://{bucket}/ds").create_tensor("videos")
    assert list(hubcli.load(f"gcs://{bucket}/ds").tensors) == ["videos"]


def test_cli_on_a_bucket(remote_url, corpus, oracle, tmp_path):
    assert hubcli_run("create", remote_url).code == 0
    assert (
        hubcli_run("create-tensor", remote_url, "videos", "--sample-compression", "mkv").code == 0
    )
    run = hubcli_run("append", remote_url, "videos", str(corpus["h264_open_gop"]), "--json")
    assert run.code == 0, run.stderr
    assert run.json()["length"] == 1
    info = hubcli_run("info", remote_url, "videos[0]", "--json").json()
    assert info["shape"] == [72, 64, 96, 3] and info["format"] == "mkv"
    assert hubcli_run("shape", remote_url, "videos[0, ::2]").lines == ["36 64 96 3"]
    expected = oracle(corpus["h264_open_gop"])
    times = hubcli_run("timestamps", remote_url, "videos[0, 3:6]").lines
    assert [float(t) for t in times] == expected.times[3:6]
    out = tmp_path / "f.npy"
    assert hubcli_run("export", remote_url, "videos[0, [11, 12, 13]]", "-o", str(out)).code == 0
    assert [frame_hash(f) for f in np.load(out)] == [expected.hashes()[k] for k in (11, 12, 13)]


def test_missing_bucket(service):
    url = f"{service.scheme}://no-such-bucket-{service.scheme}/ds"
    with pytest.raises(
        hubcli.errors.StorageError, match="bucket 'no-such-bucket-.*' does not exist"
    ):
        hubcli.load(url)
    assert_user_error(hubcli_run("info", url), "does not exist; create it, or check the URL")


def test_no_dataset_in_an_existing_bucket(service):
    url = f"{service.scheme}://{service.new_bucket()}/nothing"
    with pytest.raises(hubcli.errors.DatasetNotFoundError, match=f"no hubcli dataset at {url}"):
        hubcli.load(url)


def test_creds_in_python_and_from_a_file(s3, corpus, tmp_path, monkeypatch):
    bucket = s3.new_bucket()
    url = f"s3://{bucket}/ds"
    creds = {
        "aws_access_key_id": "hubcli-test-key",
        "aws_secret_access_key": "hubcli-test-secret",
        "endpoint_url": s3.proxy.url,
        "region": "us-east-1",
    }
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    hubcli.empty(url, creds=creds).create_tensor("videos")
    hubcli.load(url, creds=creds).videos.append(str(corpus["h264_bframes"]))
    creds_file = tmp_path / "creds.json"
    creds_file.write_text(__import__("json").dumps(creds))
    run = hubcli_run("shape", url, "videos[0]", "--creds-file", str(creds_file))
    assert run.code == 0 and run.lines == ["60 64 96 3"], run.stderr
    # Without them: the environment has no keys, and the error says what to set.
    run = hubcli_run("shape", url, "videos[0]")
    assert_user_error(run, "AWS_ACCESS_KEY_ID")
    assert "hubcli-test-secret" not in run.stderr


def test_unknown_creds_field(s3):
    with pytest.raises(
        hubcli.errors.CredentialsError, match=r"unknown credential field\(s\) \['password'\]"
    ):
        hubcli.load(f"s3://{s3.new_bucket()}/ds", creds={"password": "hunter2"})
