"""Issue 13 point 4: the playback server streams in bounded pieces (server memory grows by
at most 32 MiB per concurrent request, whatever the sample's size), and a sample that is
slow to prepare (a stalled read, a transcode) holds no lock the other samples need."""

from __future__ import annotations

import hashlib
import http.server
import shutil
import signal
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from serve_helpers import get, make_big_video, token_of

import hubcli
from hubcli.serve.server import PlaybackServer
from support.clirun import HUBCLI

MIB = 1 << 20
PER_REQUEST = 32 * MIB


def _memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (the peak) of a process, in bytes."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) * 1024
    return fields


def _fetch(port: int, path: str, headers: dict[str, str]) -> tuple[int, int, str]:
    """Status, length and SHA-256 of the body, read in small blocks (the client keeps
    no copy: what is measured is the server)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    sha, length = hashlib.sha256(), 0
    while block := response.read(256 << 10):
        sha.update(block)
        length += len(block)
    conn.close()
    return response.status, length, sha.hexdigest()


def test_memory_per_request_is_bounded_whatever_the_sample_size(tmp_path):
    video = make_big_video(tmp_path / "big.mp4", 260)
    size = video.stat().st_size
    expected = hashlib.sha256(video.read_bytes()).hexdigest()
    root = tmp_path / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("videos", sample_compression="mp4")
    ds.videos.append(str(video))
    video.unlink()  # the disk holds one copy, in the dataset
    proc = subprocess.Popen(
        [HUBCLI, "serve", str(root), "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        port = int(url.split(":")[2].split("/")[0])
        before = _memory(proc.pid)["VmRSS"]
        path = f"/{token_of(url)}/video/videos/0"
        asks = [{}, {}, {"Range": "bytes=0-"}, {"Range": "bytes=0-"}]  # Chromium's first ask
        with ThreadPoolExecutor(len(asks)) as pool:
            results = list(pool.map(lambda h: _fetch(port, path, h), asks))
        peak = _memory(proc.pid)["VmHWM"]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    assert [r[0] for r in results] == [200, 200, 206, 206]
    assert all(r[1] == size and r[2] == expected for r in results)
    assert size > len(asks) * PER_REQUEST  # one whole body would blow the budget of all
    print(f"server memory growth: {(peak - before) / MIB:.1f} MiB")
    assert peak - before <= len(asks) * PER_REQUEST, (peak - before) / MIB


class StallingServer:
    """Serves one file over HTTP with Range; while ``stalled``, holds every request until
    ``release()``: a link whose server hangs."""

    def __init__(self, path: Path) -> None:
        data = path.read_bytes()
        self.stalled = False
        self.arrived = threading.Event()
        self.released = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                self.do_GET(head=True)

            def do_GET(self, head: bool = False) -> None:
                if outer.stalled:
                    outer.arrived.set()
                    outer.released.wait(60)
                start, end = 0, len(data)
                if wanted := self.headers.get("Range"):
                    first, _, last = wanted.removeprefix("bytes=").partition("-")
                    start, end = int(first), min(int(last) + 1 if last else len(data), len(data))
                body = data[start:end]
                self.send_response(206 if wanted else 200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "bytes")
                if wanted:
                    self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
                self.end_headers()
                if not head:
                    self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/{path.name}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def release(self) -> None:
        self.released.set()

    def stop(self) -> None:
        self.release()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def stalling(tmp_path, corpus):
    source = tmp_path / "linked.mp4"
    shutil.copyfile(corpus["h264_bframes_editlist"], source)
    server = StallingServer(source)
    yield server
    server.stop()


def test_a_stalled_sample_does_not_stall_the_others(tmp_path, corpus, stalling):
    root = tmp_path / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("links", htype="link[video]")
    ds.links.append(hubcli.link(stalling.url))
    ds.create_tensor("videos", sample_compression="mp4")
    ds.videos.append(str(corpus["h264_bframes"]))
    with PlaybackServer(hubcli.load(root, read_only=True)) as server, ThreadPoolExecutor(1) as pool:
        stalling.stalled = True
        stalled = pool.submit(get, server, f"/{server.token}/video/links/0")
        assert stalling.arrived.wait(30)  # sample A is now preparing, blocked on its read
        response, body = get(server, f"/{server.token}/video/videos/0")
        assert not stalling.released.is_set() and not stalled.done()
        assert response.status == 200 and body == corpus["h264_bframes"].read_bytes()
        response, _ = get(server, f"/{server.token}/play/links/0")  # its page too
        assert response.status == 200
        stalling.release()
        response, body = stalled.result(timeout=60)
    assert response.status == 200
    assert body == corpus["h264_bframes_editlist"].read_bytes()
