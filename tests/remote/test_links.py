"""link[video] tensors and named credentials, against real servers: HTTP (with and
without Range), moto S3, fake-gcs-server and a Drive v3 API server that checks tokens."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

import hubcli
from hubcli.errors import CredentialsError, HubcliWarning, LinkChangedError, SourceNotFoundError
from support.clirun import assert_user_error, hubcli_run
from support.helpers import snapshot
from support.media import STREAM_720P, decode_some, frame_hash
from support.servers import DriveServer, FileServer, MotoS3Process

S3_SECRET = "s3-secret-for-links-TEST"
DRIVE_TOKEN = "drive-token-for-links-TEST"


@pytest.fixture(scope="module")
def drive():
    server = DriveServer()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _drive_api(drive, monkeypatch):
    monkeypatch.setenv("HUBCLI_GDRIVE_API", drive.api)


@pytest.fixture
def config_home(tmp_path, monkeypatch):
    """A private XDG_CONFIG_HOME: the managed credential store of this test only."""
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


@pytest.fixture
def links_ds(tmp_path, config_home):
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("links", htype="link[video]")
    return ds


def _s3_creds(s3):
    return {
        "aws_access_key_id": "hubcli-test-key",
        "aws_secret_access_key": S3_SECRET,
        "endpoint_url": s3.proxy.url,
        "region": "us-east-1",
    }


def test_links_on_every_scheme(links_ds, corpus, oracle, http_corpus, s3, gcs, drive):
    s3_bucket, gcs_bucket = s3.new_bucket(), gcs.new_bucket()
    s3.fs.put_file(str(corpus["hevc"]), f"{s3_bucket}/v/hevc.mp4")
    gcs.fs.put_file(str(corpus["vp9"]), f"{gcs_bucket}/v/vp9.webm")
    drive.add("driveFileA0001", corpus["h264_open_gop"].read_bytes(), DRIVE_TOKEN)
    drive.add("driveFileB0002", corpus["mpeg4_avi"].read_bytes(), DRIVE_TOKEN)
    links_ds.add_creds_key("S3")
    links_ds.populate_creds("S3", _s3_creds(s3))
    links_ds.add_creds_key("DRIVE")
    links_ds.populate_creds("DRIVE", {"token": DRIVE_TOKEN})
    cases = [
        (hubcli.link(f"{http_corpus[0].url}/h264_bframes_editlist.mp4"), "h264_bframes_editlist"),
        (hubcli.link(f"s3://{s3_bucket}/v/hevc.mp4", creds_key="S3"), "hevc"),
        (hubcli.link(f"s3://{s3_bucket}/v/hevc.mp4", creds_key="ENV"), "hevc"),
        (hubcli.link(f"gs://{gcs_bucket}/v/vp9.webm"), "vp9"),
        (hubcli.link("gdrive://driveFileA0001", creds_key="DRIVE"), "h264_open_gop"),
        (
            hubcli.link(
                "https://drive.google.com/file/d/driveFileB0002/view?usp=sharing", creds_key="DRIVE"
            ),
            "mpeg4_avi",
        ),
        (hubcli.link(str(corpus["av1"])), "av1"),
    ]
    links_ds.links.extend([link for link, _ in cases])
    assert not list((links_ds.store.root / "tensors" / "links").glob("chunks/*"))  # nothing copied
    for i, (link, name) in enumerate(cases):
        expected = oracle(corpus[name])
        sample = links_ds.links[i]
        assert sample.shape[0] == len(expected.frames)
        assert sample.sample_info["url"] == link.url
        picks = [0, len(expected.frames) // 2, -1]
        got = links_ds.links[i, picks].numpy()
        assert [frame_hash(f) for f in got] == [expected.hashes()[k] for k in picks], name
        np.testing.assert_array_equal(links_ds.links[i].timestamp, expected.timestamps)


def test_no_range_server_reads_whole_with_a_warning(links_ds, http_corpus, corpus, oracle):
    links_ds.links.append(f"{http_corpus[1].url}/hevc.mp4")
    fresh = hubcli.load(links_ds.path)
    with pytest.warns(HubcliWarning, match="ignores Range requests"):
        frame = fresh.links[0, 40].numpy()
    assert frame_hash(frame) == oracle(corpus["hevc"]).hashes()[40]


def test_shape_and_info_need_no_network(links_ds, corpus, tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    (root / "a.mp4").write_bytes(corpus["h264_bframes"].read_bytes())
    server = FileServer(root)
    links_ds.links.append(f"{server.url}/a.mp4")
    server.stop()  # the network is gone
    fresh = hubcli.load(links_ds.path)
    assert fresh.links[0].shape == (60, 64, 96, 3)
    assert fresh.links[0].sample_info["url"] == f"{server.url}/a.mp4"
    assert fresh.links[0, 3:9].timestamp.shape == (6,)
    with pytest.raises(hubcli.errors.StorageError, match="cannot stat"):
        fresh.links[0, 3].numpy()


def test_the_wrong_keys_secrets_fail(links_ds, corpus, s3, drive):
    drive.add("driveFileC0003", corpus["hevc"].read_bytes(), "token-of-key-A")
    links_ds.add_creds_key("A")
    links_ds.add_creds_key("B")
    links_ds.populate_creds("A", {"token": "token-of-key-A"})
    links_ds.populate_creds("B", {"token": "token-of-key-B"})
    before = snapshot(links_ds.store.root)
    with pytest.raises(CredentialsError, match="access denied to gdrive://driveFileC0003"):
        links_ds.links.append(hubcli.link("gdrive://driveFileC0003", creds_key="B"))
    assert snapshot(links_ds.store.root) == before
    links_ds.links.append(hubcli.link("gdrive://driveFileC0003", creds_key="A"))
    # S3: each key names its own server; the object exists only behind key A's.
    other = MotoS3Process(auth=False)
    try:
        bucket = s3.new_bucket()
        s3.fs.put_file(str(corpus["h264_bframes"]), f"{bucket}/a.mp4")
        links_ds.add_creds_key("S3_A")
        links_ds.add_creds_key("S3_B")
        links_ds.populate_creds("S3_A", _s3_creds(s3))
        links_ds.populate_creds("S3_B", {**_s3_creds(s3), "endpoint_url": other.url})
        with pytest.raises(SourceNotFoundError, match=f"s3://{bucket}/a.mp4: no such object"):
            links_ds.links.append(hubcli.link(f"s3://{bucket}/a.mp4", creds_key="S3_B"))
        links_ds.links.append(hubcli.link(f"s3://{bucket}/a.mp4", creds_key="S3_A"))
        assert len(links_ds.links) == 2
    finally:
        other.stop()


def test_a_changed_object_is_refused(links_ds, corpus, s3):
    bucket = s3.new_bucket()
    s3.fs.put_file(str(corpus["h264_bframes"]), f"{bucket}/clip.mp4")
    links_ds.links.append(hubcli.link(f"s3://{bucket}/clip.mp4", creds_key="ENV"))
    assert hubcli.load(links_ds.path).links[0, 0].numpy().shape == (64, 96, 3)
    s3.fs.put_file(str(corpus["audio"]), f"{bucket}/clip.mp4")  # same name, other video
    with pytest.raises(
        LinkChangedError, match=f"s3://{bucket}/clip.mp4 .*changed since it was appended"
    ):
        hubcli.load(links_ds.path).links[0, 0].numpy()
    run = hubcli_run("export", links_ds.path, "links[0, 0]", "-o", "/tmp/never.npy")
    assert_user_error(run, f"s3://{bucket}/clip.mp4 (sample 0 of 'links') changed since it was")
    assert "append it again" in run.stderr
    # Nothing about the object now at the URL (tests/security/test_link_disclosure.py).
    assert str(corpus["audio"].stat().st_size) not in run.stderr and "size" not in run.stderr


def test_missing_secrets_name_the_key_and_the_fix(links_ds, corpus, s3):
    bucket = s3.new_bucket()
    s3.fs.put_file(str(corpus["h264_bframes"]), f"{bucket}/a.mp4")
    links_ds.add_creds_key("TEMP")
    links_ds.add_creds_key("LAKE", managed=True)
    links_ds.populate_creds("TEMP", _s3_creds(s3))
    links_ds.populate_creds("LAKE", _s3_creds(s3))
    links_ds.links.extend([hubcli.link(f"s3://{bucket}/a.mp4", creds_key="TEMP")])
    fresh = hubcli.load(links_ds.path)  # a new process would see the same: no secrets for TEMP
    with pytest.raises(
        CredentialsError, match=r"creds key 'TEMP' is not populated; call ds.populate_creds\('TEMP'"
    ):
        fresh.links[0, 0].numpy()
    with pytest.raises(
        CredentialsError, match=r"creds key 'NOPE' was not added to .* \(keys: TEMP, LAKE\)"
    ):
        fresh.links.append(hubcli.link(f"s3://{bucket}/a.mp4", creds_key="NOPE"))
    os.environ["XDG_CONFIG_HOME"] = os.environ["XDG_CONFIG_HOME"] + "-elsewhere"  # an empty store
    fresh = hubcli.load(links_ds.path)
    fresh.links.append(hubcli.link(f"s3://{bucket}/a.mp4", creds_key="ENV"))
    run = hubcli_run("creds", "list", links_ds.path, "--json")
    assert run.json() == {
        "keys": [
            {"name": "TEMP", "managed": False, "populated": False, "bound_to": None},
            {
                "name": "LAKE",
                "managed": True,
                "populated": False,
                "bound_to": os.path.realpath(links_ds.path),
            },
        ]
    }


@pytest.mark.parametrize(
    ("url", "error", "needle"),
    [
        (
            "ftp://example.com/a.mp4",
            hubcli.errors.StorageError,
            "links with scheme 'ftp' are not supported",
        ),
        (
            "https://user:pw@example.com/a.mp4",
            hubcli.errors.InvalidSampleError,
            "carries credentials",
        ),
        ("gdrive://", hubcli.errors.StorageError, "not a Google Drive file URL"),
    ],
)
def test_bad_link_urls(url, error, needle):
    with pytest.raises(error, match=needle):
        hubcli.link(url)


def test_missing_objects_change_nothing(links_ds, http_corpus, s3, drive):
    before = snapshot(links_ds.store.root)
    links_ds.add_creds_key("D")
    links_ds.populate_creds("D", {"token": DRIVE_TOKEN})
    before = snapshot(links_ds.store.root)
    for url, key in [
        (f"{http_corpus[0].url}/none.mp4", None),
        (f"s3://{s3.new_bucket()}/none.mp4", "ENV"),
        ("gdrive://noSuchFile00000", "D"),
    ]:
        with pytest.raises(SourceNotFoundError, match="no such object"):
            links_ds.links.append(hubcli.link(url, creds_key=key))
    assert snapshot(links_ds.store.root) == before


def test_managed_keys_across_processes(tmp_path, config_home, corpus, s3, oracle):
    bucket = s3.new_bucket()
    s3.fs.put_file(str(corpus["hevc"]), f"{bucket}/private/hevc.mp4")
    ds, creds_file = str(tmp_path / "ds"), tmp_path / "creds.json"
    creds_file.write_text(json.dumps(_s3_creds(s3)))
    env = {
        "XDG_CONFIG_HOME": str(config_home),
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_ENDPOINT_URL": "",
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
    }
    runs = [
        hubcli_run("create", ds, env=env),
        hubcli_run("create-tensor", ds, "links", "--htype", "link[video]", env=env),
        hubcli_run("creds", "add", ds, "LAKE", "--managed", env=env),
        hubcli_run("creds", "populate", ds, "LAKE", "--file", str(creds_file), env=env),
        hubcli_run(
            "append", ds, "links", f"s3://{bucket}/private/hevc.mp4", "--creds-key", "LAKE", env=env
        ),
    ]
    assert [r.code for r in runs] == [0] * 5, [r.stderr for r in runs]
    store = config_home / "hubcli" / "credentials.json"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.parent.stat().st_mode) == 0o700
    listing = hubcli_run("creds", "list", ds, "--json", env=env)
    bound_to = os.path.realpath(ds)
    assert listing.json() == {
        "keys": [{"name": "LAKE", "managed": True, "populated": True, "bound_to": bound_to}]
    }
    out = tmp_path / "f.npy"
    export = hubcli_run("export", ds, "links[0, [5, 50]]", "-o", str(out), env=env)
    assert export.code == 0, export.stderr
    expected = oracle(corpus["hevc"]).hashes()
    assert [frame_hash(f) for f in np.load(out)] == [expected[5], expected[50]]
    info = hubcli_run("info", ds, "links[0]", "--json", env=env).json()
    assert info["url"] == f"s3://{bucket}/private/hevc.mp4" and info["creds_key"] == "LAKE"
    # Secrets of an unmanaged key given in the shell would end with the command: the
    # key is made managed first (one commit), and the output says so.
    hubcli_run("creds", "add", ds, "TEMP", env=env)
    managed = hubcli_run("creds", "populate", ds, "TEMP", "--file", str(creds_file), env=env)
    assert managed.code == 0, managed.stderr
    assert "made creds key 'TEMP' managed" in managed.stdout
    temp = hubcli_run("creds", "list", ds, "--json", env=env).json()["keys"][1]
    assert temp["name"] == "TEMP" and temp["managed"] and temp["populated"]
    # The secret is nowhere in the dataset or in anything printed.
    everything = [*runs, listing, export, managed]
    assert all(S3_SECRET not in r.stdout + r.stderr for r in everything)
    files = [p for p in (tmp_path / "ds").rglob("*") if p.is_file()]
    assert files and all(S3_SECRET.encode() not in p.read_bytes() for p in files)
    assert S3_SECRET in store.read_text()  # ...only in the user's store


def test_secrets_never_in_reprs_or_errors(links_ds, s3):
    links_ds.add_creds_key("K")
    links_ds.populate_creds("K", _s3_creds(s3))
    secrets, _ = links_ds.secrets_for("K")
    assert S3_SECRET not in repr(secrets) and S3_SECRET not in str(secrets)
    assert S3_SECRET not in repr(links_ds) and S3_SECRET not in repr(hubcli.link("s3://b/k", "K"))
    with pytest.raises(CredentialsError) as info:
        links_ds.populate_creds("K", {"aws_secret_access_key": S3_SECRET, "password": S3_SECRET})
    assert S3_SECRET not in str(info.value)


def test_one_frame_of_a_large_linked_video(s3, video, tmp_path):
    """The byte budget of the remote issue, for a link: only the packets from the
    keyframe, plus one request for the object's identity."""
    src = video(STREAM_720P)
    bucket = s3.new_bucket()
    s3.fs.put_file(str(src), f"{bucket}/big.mp4")
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("links", htype="link[video]")
    ds.links.append(hubcli.link(f"s3://{bucket}/big.mp4", creds_key="ENV"))
    fresh = hubcli.load(tmp_path / "ds")
    table = fresh.links.reader().frame_table(0)
    keys = np.flatnonzero(table.keyframe)
    packet = int(keys[4]) - 1
    frame = int(np.flatnonzero(table.frame_packet == packet)[0])
    needed = int(table.size[int(keys[3]) : packet + 1].sum())
    s3.proxy.reset()
    got = fresh.links[0, frame].numpy()
    assert frame_hash(got) == frame_hash(decode_some(src, {frame})[frame])
    gets = [e for e in s3.proxy.log if e.method == "GET"]
    heads = [e for e in s3.proxy.log if e.method == "HEAD"]
    sent = sum(e.sent for e in s3.proxy.log)
    assert len(gets) == 1 and len(heads) == 1 and len(s3.proxy.log) == 2
    assert sent <= 1.05 * needed
    print(
        f"\nlinked frame {frame}: {sent} bytes in 1 GET + 1 HEAD for {needed} bytes of "
        f"packets needed ({sent / needed:.4f}x); object {int(table.size.sum())} bytes"
    )


def test_no_creds_key_means_anonymous(links_ds, corpus, s3):
    """A key without secrets, like creds_key=None, never signs with the environment's
    keys (they are set here)."""
    bucket = s3.new_bucket()
    s3.fs.pipe_file(f"{bucket}/public.mp4", corpus["h264_bframes"].read_bytes(), ACL="public-read")
    links_ds.add_creds_key("ENDPOINT_ONLY")
    links_ds.populate_creds("ENDPOINT_ONLY", {"endpoint_url": s3.proxy.url})
    s3.proxy.reset()
    links_ds.links.append(hubcli.link(f"s3://{bucket}/public.mp4", creds_key="ENDPOINT_ONLY"))
    links_ds.links[0, 0].numpy()
    assert s3.proxy.log and not any(e.signed for e in s3.proxy.log)
    s3.proxy.reset()
    links_ds.links.append(hubcli.link(f"s3://{bucket}/public.mp4", creds_key="ENV"))
    assert all(e.signed for e in s3.proxy.log)


@pytest.mark.parametrize(
    "url",
    [
        "https://drive.google.com/file/d/driveFileA0001/view?usp=sharing&resourcekey=0-abc",
        "https://example.com/a.mp4?keyframe=1&author=me",
    ],
)
def test_harmless_query_parameters_are_not_secrets(url):
    assert hubcli.link(url).url == url
