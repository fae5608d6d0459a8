"""Issue 13, the server items of "Weak": a Host check (DNS rebinding), hostile path,
query and Range parts answered 400, several ranges answered 200, a bounded request log,
idle connections closed, ``Referrer-Policy`` on every answer, and dropped connections
printing nothing."""

from __future__ import annotations

import http.client
import signal
import socket
import struct
import subprocess
from pathlib import Path

import pytest
from serve_helpers import get, make_big_video, raw, status_of, token_of, wait_for

import hubcli
from hubcli.errors import HubcliWarning
from hubcli.serve.server import REQUEST_LOG, PlaybackServer
from support.clirun import HUBCLI


@pytest.fixture(scope="module")
def root(tmp_path_factory, make_dataset):
    root = tmp_path_factory.mktemp("requests") / "ds"
    make_dataset(root, {"videos": ("mp4", ["h264_bframes"])})
    return root


@pytest.fixture(scope="module")
def server(root):
    with PlaybackServer(hubcli.load(root, read_only=True), idle_timeout=2) as running:
        yield running


def _host_status(server, host):
    request = f"GET /{server.token}/ HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    return status_of(raw(server.port, request.encode()))


def test_only_requests_naming_this_server_are_answered(server):
    port = server.port
    for host in ("127.0.0.1", f"127.0.0.1:{port}", "localhost", f"LOCALHOST:{port}", "[::1]"):
        assert _host_status(server, host) == 200, host
    # A DNS-rebinding page reaches 127.0.0.1 under its own name.
    for host in ("attacker.example", f"attacker.example:{port}", "127.0.0.1.nip.io", "[::1]x"):
        assert _host_status(server, host) == 421, host
    assert _host_status(server, "127.0.0.1:1") == 421  # another port: another server


def test_ipv6_loopback_host(root):
    try:
        ipv6 = PlaybackServer(hubcli.load(root, read_only=True), host="::1")
    except hubcli.errors.HubcliError:
        pytest.skip("no IPv6 loopback here")
    with ipv6, socket.create_connection(("::1", ipv6.port), timeout=30) as sock:
        sock.sendall(f"GET /{ipv6.token}/ HTTP/1.1\r\nHost: [::1]:{ipv6.port}\r\n\r\n".encode())
        assert sock.recv(12).endswith(b"200")


def test_a_wildcard_bind_answers_addresses_but_no_names(root):
    with pytest.warns(HubcliWarning):
        exposed = PlaybackServer(hubcli.load(root, read_only=True), host="0.0.0.0")
    with exposed:
        assert _host_status(exposed, f"192.0.2.7:{exposed.port}") == 200
        assert _host_status(exposed, f"rebind.example:{exposed.port}") == 421


LONG = "9" * 5000


@pytest.mark.parametrize(
    "target",
    [
        "/{token}/video/videos/\u0661",  # an Arabic-Indic digit, raw UTF-8
        "/{token}/video/vid%C3%A9os/0",
        "/t\u00f6k\u00e9n/",
        "/%C3%B6{token}/",
        f"/{{token}}/video/videos/{LONG}",
        f"/{{token}}/thumb/videos/{LONG}.png",
        f"/{{token}}/?start={LONG}",
        "/{token}/?start=%D9%A1",
        "/{token}/?other=%FF%FE",
    ],
)
def test_hostile_path_and_query_parts_answer_400(server, capfd, target):
    line = target.format(token=server.token)
    request = f"GET {line} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    answer = raw(server.port, request.encode())
    assert status_of(answer) == 400, answer[:200]
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize(
    "header",
    [f"bytes=0-{LONG}", f"bytes={LONG}-", f"bytes=-{LONG}", "bytes=\u0660-\u0661"],
)
def test_hostile_ranges_answer_400(server, capfd, header):
    request = (
        f"GET /{server.token}/video/videos/0 HTTP/1.1\r\nHost: localhost\r\n"
        f"Range: {header}\r\nConnection: close\r\n\r\n"
    )
    answer = raw(server.port, request.encode())
    assert status_of(answer) == 400, answer[:200]
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "bytes=0-99, 200-299", "items=0-5"])
def test_several_ranges_get_the_whole_body(server, corpus, header):
    response, body = get(server, f"/{server.token}/video/videos/0", {"Range": header})
    assert response.status == 200
    assert body == corpus["h264_bframes"].read_bytes()


def test_the_request_log_is_bounded(server):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    for _ in range(REQUEST_LOG + 20):
        conn.request("HEAD", f"/{server.token}/video/videos/0")
        conn.getresponse().read()
    conn.close()
    assert len(server.requests) == REQUEST_LOG
    assert all(server.token not in r.path for r in server.requests)


def test_an_idle_connection_is_closed(server):
    with socket.create_connection((server.host, server.port), timeout=60) as silent:
        with socket.create_connection((server.host, server.port), timeout=60) as half:
            half.sendall(b"GET / HTTP/1.1\r\n")  # and never the rest
            assert half.recv(1) == b""  # closed by the server, not by our timeout
        assert silent.recv(1) == b""


def test_the_default_idle_timeout_is_set():
    from hubcli.serve.server import IDLE_TIMEOUT

    assert 0 < IDLE_TIMEOUT <= 60


def test_every_answer_has_no_referrer(server):
    token = server.token
    answers = [
        get(server, f"/{token}/")[0],
        get(server, f"/{token}/play/videos/0")[0],
        get(server, f"/{token}/video/videos/0", {"Range": "bytes=0-9"})[0],
        get(server, f"/{token}/video/videos/0", {"Range": "bytes=999999-"})[0],
        get(server, f"/{token}/video/videos/0", method="HEAD")[0],
        get(server, f"/{token}/nothing")[0],
        get(server, "/wrong/")[0],
    ]
    assert [a.status for a in answers] == [200, 200, 206, 416, 200, 404, 403]
    assert all(a.getheader("Referrer-Policy") == "no-referrer" for a in answers)
    for request in (b"GET / x HTTP/1.1\r\n\r\n", b"BREW / HTTP/1.1\r\nHost: localhost\r\n\r\n"):
        answer = raw(server.port, request)  # the stdlib's own error pages
        assert status_of(answer) in (400, 501)
        assert b"\r\nReferrer-Policy: no-referrer\r\n" in answer
    answer = raw(server.port, b"GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n")
    assert status_of(answer) == 421 and b"\r\nReferrer-Policy: no-referrer\r\n" in answer


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset (what a browser's cancelled request can look like)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _threads(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Threads:")).split()[1])


def test_dropped_connections_print_nothing(tmp_path):
    video = make_big_video(tmp_path / "big.mp4", 12, width=640, height=480)
    root = tmp_path / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("videos", sample_compression="mp4")
    ds.videos.append(str(video))
    proc = subprocess.Popen(
        [HUBCLI, "serve", str(root), "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        port, token = int(url.split(":")[2].split("/")[0]), token_of(url)
        idle = _threads(proc.pid)
        for _ in range(3):
            # Reset in the middle of a request line (inside the stdlib's own loop) ...
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            sock.sendall(b"GET /")
            _reset(sock)
            # ... and in the middle of a large answer.
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            sock.sendall(
                f"GET /{token}/video/videos/0 HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()
            )
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            _reset(sock)
        # Every handler thread has met its dropped connection and ended.
        wait_for(lambda: _threads(proc.pid) == idle, what="the handler threads to end")
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    assert stderr == "stopped\n"
