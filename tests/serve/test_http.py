"""The playback server over HTTP: Range, tokens, traversal, bind address, no writes."""

from __future__ import annotations

import http.client
import signal
import subprocess
import time
import urllib.request

import pytest

import hubcli
from hubcli.errors import HubcliWarning
from hubcli.format.segment import CHUNK_MAGIC
from hubcli.serve.server import PlaybackServer
from support.clirun import HUBCLI
from support.helpers import snapshot


@pytest.fixture(scope="module")
def served(tmp_path_factory, corpus):
    root = tmp_path_factory.mktemp("serve") / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("videos", sample_compression="mp4")
    ds.videos.extend([str(corpus["h264_bframes"]), str(corpus["hevc"])])
    ds.create_tensor("clips", sample_compression="mkv")
    ds.clips.append(str(corpus["vp9_mkv"]))
    ds.create_tensor("old", sample_compression="avi")
    ds.old.append(str(corpus["mpeg4_avi"]))
    ds.create_tensor("links", htype="link[video]")
    ds.links.append(hubcli.link(str(corpus["h264_open_gop"])))
    before = snapshot(root)
    with PlaybackServer(hubcli.load(root, read_only=True)) as server:
        yield server, root
    assert snapshot(root) == before  # the server never writes to the dataset


def _get(server, path, headers=None, method="GET"):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    conn.request(method, path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response, body


def _path(server, rest):
    return f"/{server.token}/{rest}"


def test_whole_video_byte_exact(served, corpus):
    server, _ = served
    response, body = _get(server, _path(server, "video/videos/0"))
    assert response.status == 200
    assert body == corpus["h264_bframes"].read_bytes()
    assert response.getheader("Content-Type") == "video/mp4"
    assert response.getheader("Accept-Ranges") == "bytes"


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 100),
        ("bytes=100-", 100, None),
        ("bytes=-50", -50, None),
        ("bytes=5000-999999", 5000, None),
    ],
)
def test_ranges_byte_exact(served, corpus, header, start, end):
    server, _ = served
    data = corpus["h264_bframes"].read_bytes()
    response, body = _get(server, _path(server, "video/videos/0"), {"Range": header})
    expected = data[start:end]
    assert response.status == 206
    assert body == expected
    first = start if start >= 0 else len(data) + start
    assert (
        response.getheader("Content-Range")
        == f"bytes {first}-{first + len(expected) - 1}/{len(data)}"
    )


def test_unsatisfiable_range(served, corpus):
    server, _ = served
    size = corpus["h264_bframes"].stat().st_size
    response, _ = _get(server, _path(server, "video/videos/0"), {"Range": f"bytes={size}-"})
    assert response.status == 416
    assert response.getheader("Content-Range") == f"bytes */{size}"


def test_head_has_no_body(served, corpus):
    server, _ = served
    response, body = _get(server, _path(server, "video/clips/0"), method="HEAD")
    assert response.status == 200 and body == b""
    assert int(response.getheader("Content-Length")) == corpus["vp9_mkv"].stat().st_size
    assert response.getheader("Content-Type") == "video/x-matroska"


def test_links_are_served_from_the_linked_object(served, corpus):
    server, _ = served
    _, body = _get(server, _path(server, "video/links/0"), {"Range": "bytes=10-1009"})
    assert body == corpus["h264_open_gop"].read_bytes()[10:1010]


def test_avi_is_transcoded_to_mp4(served, tmp_path, oracle, corpus):
    server, _ = served
    response, body = _get(server, _path(server, "video/old/0"))
    assert response.status == 200 and response.getheader("Content-Type") == "video/mp4"
    assert body[4:8] == b"ftyp"
    (tmp_path / "t.mp4").write_bytes(body)
    from support.media import decode_all

    assert len(decode_all(tmp_path / "t.mp4").frames) == len(oracle(corpus["mpeg4_avi"]).frames)


def test_pages_and_thumbnails(served):
    server, _ = served
    response, body = _get(server, _path(server, ""))
    assert response.status == 200 and b"videos[1]" in body and b"links[0]" in body
    assert b"http://" not in body.replace(server.base.encode(), b"")  # nothing from outside
    response, body = _get(server, _path(server, "play/videos/1"))
    assert response.status == 200 and b"<video" in body
    response, body = _get(server, _path(server, "thumb/videos/0.png"))
    assert response.status == 200 and body.startswith(b"\x89PNG")


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/wrong-token/",
        "/etc/passwd",
        "//etc/passwd",
        "/{token}/../../etc/passwd",
        "/{token}/%2e%2e/%2e%2e/etc/passwd",
        "/{token}/video/%2e%2e%2f%2e%2e%2fetc%2fpasswd/0",
        "/{token}/video/videos/../../../etc/passwd",
        "/{token}/video/videos/99",
        "/{token}/video/videos/-1",
        "/{token}/video/nope/0",
        "/{token}/thumb/videos/0",
        "/{token}/etc/passwd",
        "/{token}//etc/passwd",
        "/%2e%2e/{token}/",
    ],
)
def test_refused_paths(served, path):
    server, _ = served
    response, body = _get(server, path.format(token=server.token))
    assert response.status in (403, 404)
    assert b"root:" not in body


def test_token_is_random_per_server(served):
    server, root = served
    with PlaybackServer(hubcli.load(root, read_only=True)) as other:
        assert other.token != server.token and len(other.token) >= 24
        response, _ = _get(other, f"/{server.token}/")
        assert response.status == 403


def test_bind_address(served):
    server, root = served
    assert server.host == "127.0.0.1"
    with (
        pytest.warns(HubcliWarning, match="serving on 0.0.0.0"),
        PlaybackServer(hubcli.load(root, read_only=True), host="0.0.0.0") as exposed,
    ):
        assert exposed.host == "0.0.0.0"


def test_cli_serve_prints_the_url_and_stops_on_ctrl_c(served):
    _, root = served
    proc = subprocess.Popen(
        [HUBCLI, "serve", str(root), "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = proc.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:") and url.endswith("/")
    with urllib.request.urlopen(url, timeout=30) as page:
        assert b"videos[0]" in page.read()
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr


def test_cli_play_one_sample(served):
    _, root = served
    proc = subprocess.Popen(
        [HUBCLI, "play", str(root), "videos[1]", "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = proc.stdout.readline().strip()
    assert "/play/videos/1" in url
    with urllib.request.urlopen(url, timeout=30) as page:
        assert b"<video" in page.read()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_a_remote_dataset_is_served_with_ranges(s3, corpus):
    url = f"s3://{s3.new_bucket()}/ds"
    ds = hubcli.empty(url)
    ds.create_tensor("videos")
    ds.videos.append(str(corpus["h264_bframes"]))
    data = corpus["h264_bframes"].read_bytes()
    with PlaybackServer(hubcli.load(url, read_only=True)) as server:
        s3.proxy.reset()
        response, body = _get(server, _path(server, "video/videos/0"), {"Range": "bytes=2000-2999"})
        assert response.status == 206 and body == data[2000:3000]
        chunk_gets = [e for e in s3.proxy.log if e.method == "GET" and "/chunks/" in e.path]
        # Only the asked range left the bucket, after the one-time check of the chunk's
        # magic (hubcli/serve/library.py).
        assert [e.sent for e in chunk_gets] == [len(CHUNK_MAGIC), 1000]
