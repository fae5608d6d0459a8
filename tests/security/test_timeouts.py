"""Issue 13, "Weak": a hung endpoint. With the libraries' defaults a dead S3 server was
reported after 157 s and an http link after 603 s (aiohttp's 300 s, twice). Every
request now has a connect and a read timeout (HUBCLI_CONNECT_TIMEOUT,
HUBCLI_READ_TIMEOUT), and an operation gives up after TIMEOUT_ATTEMPTS timeouts.

The servers here accept connections and never answer, or answer the headers and then
stall; each case must end in one StorageError line within the configured timeouts
times the attempts, plus slack for starting Python.
"""

from __future__ import annotations

import http.server
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import hubcli
from hubcli.errors import StorageError
from hubcli.storage.backends import filesystem
from hubcli.storage.transient import (
    CONNECT_TIMEOUT_ENV,
    READ_TIMEOUT_ENV,
    Timeouts,
    worst_case_seconds,
)
from support.clirun import HUBCLI, Run, assert_user_error

SMALL = Timeouts(connect=1.0, read=1.0)
ENV = {CONNECT_TIMEOUT_ENV: "1", READ_TIMEOUT_ENV: "1", "NO_COLOR": "1"}
#: Starting Python and hubcli, twice over on a busy 2-core machine.
SLACK = 15.0
#: What a broken build would wait before this test gives up on it.
NEVER = 90


class HangingServer:
    """Serves the files of ``root`` (with Range) while ``mode`` is "serve"; "silent":
    reads each request and never answers; "headers": answers 200 with a Content-Length,
    then sends no byte of the body (HEAD still completes: it has no body)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.mode = "serve"
        self.released = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                self._answer()

            def do_GET(self) -> None:
                self._answer()

            def _answer(self) -> None:
                if outer.mode == "silent":
                    outer.released.wait()
                    return
                path = outer.root / self.path.split("?")[0].lstrip("/")
                data = path.read_bytes() if path.is_file() else b"<Error/>" * 2000
                start, end, status = 0, len(data), 200 if path.is_file() else 500
                if outer.mode == "serve" and (
                    m := re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
                ):
                    start, status = int(m.group(1)), 206
                    end = min(int(m.group(2)) + 1, len(data)) if m.group(2) else len(data)
                self.send_response(status)
                self.send_header("Content-Length", str(end - start))
                self.send_header("Accept-Ranges", "bytes")
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
                self.end_headers()
                self.wfile.flush()
                if self.command == "HEAD":
                    return
                if outer.mode == "headers":
                    outer.released.wait()
                    return
                self.wfile.write(data[start:end])

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # the client gave up on us: that is the point

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path, corpus):
    root = tmp_path / "served"
    root.mkdir()
    (root / "clip.mp4").write_bytes(corpus["h264_bframes"].read_bytes())
    hanging = HangingServer(root)
    yield hanging
    hanging.stop()


def _timed(args: list[str], env: dict[str, str]) -> tuple[float, Run]:
    start = time.monotonic()
    try:
        done = subprocess.run(
            args, capture_output=True, text=True, env=env, timeout=NEVER, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"still waiting after {NEVER} s: {args}")
    return time.monotonic() - start, Run(done.returncode, done.stdout, done.stderr)


_API = textwrap.dedent(
    """
    import sys, hubcli
    try:
        exec(sys.argv[1])
    except hubcli.HubcliError as exc:
        print(type(exc).__name__, exc, sep="\\n")
    """
)


def _check(statement: str, cli: list[str], env: dict[str, str], needle: str) -> None:
    """The Python API raises one StorageError, the CLI prints one error line, each in
    time."""
    limit = worst_case_seconds(SMALL) + SLACK
    elapsed, api = _timed([sys.executable, "-c", _API, statement], env)
    assert api.code == 0 and api.lines[:1] == ["StorageError"], (api.stdout, api.stderr)
    assert len(api.lines) == 2 and needle in api.lines[1], api.lines
    assert elapsed < limit, (elapsed, api.lines)
    elapsed, run = _timed([HUBCLI, *cli], env)
    assert_user_error(run, needle)
    assert elapsed < limit, (elapsed, run.stderr)


@pytest.fixture
def env():
    return {**os.environ, **ENV}


def _object_store_env(scheme: str, url: str) -> dict[str, str]:
    if scheme == "s3":
        return {
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "k",
            "AWS_SECRET_ACCESS_KEY": "s",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    # gcsfs's bucket-type probe asks Google's metadata server first: off, as in conftest.
    return {"STORAGE_EMULATOR_HOST": url, "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}


@pytest.mark.parametrize("mode", ["silent", "headers"])
@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_a_remote_dataset_on_a_hung_server(server, env, mode, scheme):
    server.mode = mode
    env = {**env, **_object_store_env(scheme, server.url)}
    url = f"{scheme}://hung-bucket/ds"
    _check(f"hubcli.load({url!r})", ["info", url], env, f"{url}/")


@pytest.mark.parametrize("mode", ["silent", "headers"])
def test_an_http_source_on_a_hung_server(server, env, tmp_path, mode):
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("videos")
    server.mode = mode
    url = f"{server.url}/clip.mp4"
    statement = f"hubcli.load({ds.path!r}).videos.append({url!r})"
    _check(statement, ["append", ds.path, "videos", url], env, f"cannot download {url}")
    assert len(hubcli.load(ds.path).videos) == 0


@pytest.mark.parametrize("mode", ["silent", "headers"])
def test_an_http_link_on_a_hung_server(server, env, tmp_path, mode):
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("links", htype="link[video]")
    url = f"{server.url}/clip.mp4"
    ds.links.append(hubcli.link(url))  # while it still answers
    server.mode = mode
    out = str(tmp_path / "f.npy")
    statement = f"hubcli.load({ds.path!r}).links[0, 5].numpy()"
    cli = ["export", ds.path, "links[0, 5]", "-o", out]
    _check(statement, cli, env, f"{url}: the server did not answer in time")


def test_the_defaults_report_a_dead_server_within_30_seconds(monkeypatch):
    monkeypatch.delenv(CONNECT_TIMEOUT_ENV, raising=False)
    monkeypatch.delenv(READ_TIMEOUT_ENV, raising=False)
    defaults = Timeouts.from_env()
    assert defaults == Timeouts()
    assert worst_case_seconds(defaults) <= 30
    # ...and every backend is built with them.
    timeout = filesystem("http", None).client_kwargs["timeout"]
    assert (timeout.total, timeout.sock_connect, timeout.sock_read) == (None, 5.0, 8.0)
    s3 = filesystem("s3", {"anonymous": "true"})
    assert (s3.config_kwargs["connect_timeout"], s3.config_kwargs["read_timeout"]) == (5.0, 8.0)
    gcs = filesystem("gcs", {"token": "anon"})
    assert (gcs.requests_timeout.sock_connect, gcs.requests_timeout.sock_read) == (5.0, 8.0)


def test_the_timeouts_come_from_the_environment(monkeypatch):
    monkeypatch.setenv(CONNECT_TIMEOUT_ENV, "2.5")
    monkeypatch.setenv(READ_TIMEOUT_ENV, "40")
    assert Timeouts.from_env() == Timeouts(2.5, 40.0)
    assert filesystem("http", None).client_kwargs["timeout"].sock_read == 40.0
    monkeypatch.setenv(READ_TIMEOUT_ENV, "soon")
    with pytest.raises(StorageError, match="HUBCLI_READ_TIMEOUT='soon' is not a timeout"):
        Timeouts.from_env()
