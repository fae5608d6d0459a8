"""One translation of backend failures (hubcli/storage/errors.py), checked against real
servers: for each backend (local files, S3 on moto, GCS on fake-gcs-server, plain HTTP,
Google Drive) and each failure kind, the error is the documented hubcli type, and
neither its message nor its repr (nor the traceback a user would see) holds a secret
or a key id. The fake secrets are distinctive and not shaped like AWS keys, so the
redaction of known shapes cannot hide a leak: only never quoting the library can."""

from __future__ import annotations

import http.server
import json
import os
import re
import socket
import threading
import traceback

import pytest

import hubcli.storage.transient as transient
from hubcli.errors import CredentialsError, SourceNotFoundError, StorageError
from hubcli.storage import LocalStore, open_store
from hubcli.storage.credentials import Credentials
from hubcli.storage.fetch import spool
from hubcli.storage.links import open_linked
from support.servers import DriveServer, Fault, FileServer, MotoS3Process, Proxy, free_port

KEY_ID = "hubclikeyid-Zq8xW2pL"
SECRET = "hubclisecret-Mv3kT9rQ"
TOKEN = "hubclitoken-Hy6nB1sD"
SECRETS = (KEY_ID, SECRET, TOKEN)


def assert_clean(exc: BaseException) -> None:
    """No secret in the message, the repr or the whole traceback with its causes."""
    shown = "\n".join([str(exc), repr(exc), *traceback.format_exception(exc)])
    for secret in SECRETS:
        assert secret not in shown, (secret, shown)


def fails(expected: type[BaseException], needle: str, work) -> BaseException:
    with pytest.raises(expected) as caught:
        work()
    assert needle in str(caught.value), str(caught.value)
    assert_clean(caught.value)
    return caught.value


def read_source(url: str, creds) -> None:
    with spool(url, creds):
        pass


@pytest.fixture(autouse=True)
def _fast(monkeypatch):
    monkeypatch.setattr(transient, "FIRST_DELAY", 0.001)
    # Generous for the servers on a busy machine; the hung server's test sets its own.
    monkeypatch.setenv("HUBCLI_CONNECT_TIMEOUT", "30")
    monkeypatch.setenv("HUBCLI_READ_TIMEOUT", "30")


# --- S3 --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def strict_s3():
    """moto checking signatures: keys of no IAM user are refused (403)."""
    server = MotoS3Process()
    yield server
    server.stop()


def s3_creds(endpoint: str) -> dict[str, str]:
    return {
        "aws_access_key_id": KEY_ID,
        "aws_secret_access_key": SECRET,
        "aws_session_token": TOKEN,
        "endpoint_url": endpoint,
        "region": "us-east-1",
    }


def test_s3_refused_keys(strict_s3):
    creds = s3_creds(strict_s3.url)
    url = "s3://any-bucket/ds/clip.mp4"
    fails(CredentialsError, "access denied to s3://any-bucket/ds", lambda: read_source(url, creds))
    store = open_store("s3://any-bucket/ds", creds)
    fails(CredentialsError, "access denied to s3://any-bucket/ds/k", lambda: store.get("k"))
    fails(CredentialsError, "access denied to s3://any-bucket/ds/k", lambda: store.put("k", b"x"))
    linked = open_linked(url, Credentials.explicit(creds))
    fails(CredentialsError, f"access denied to {url}", linked.identity)


def test_s3_missing_object_server_error_and_bad_range(s3):
    bucket = s3.new_bucket()
    s3.fs.pipe_file(f"{bucket}/ds/k", b"0123456789")
    creds = s3_creds(s3.proxy.url)
    store = open_store(f"s3://{bucket}/ds", creds)
    fails(FileNotFoundError, f"s3://{bucket}/ds/nope", lambda: store.get("nope"))
    url = f"s3://{bucket}/ds/nope.mp4"
    fails(SourceNotFoundError, f"{url}: no such object", lambda: read_source(url, creds))
    linked = open_linked(url, Credentials.explicit(creds))
    fails(SourceNotFoundError, f"{url}: no such object", linked.identity)
    # A range that ends past the end is short; one that starts there is refused (416).
    assert store.get_ranges("k", [(8, 30)]) == [b"89"]
    fails(StorageError, "HTTP 416", lambda: store.get_range("k", 20, 30))

    s3.proxy.faults.append(Fault(lambda method, path: "/ds/" in path, 100, 500))
    error = fails(StorageError, f"cannot read s3://{bucket}/ds/k: ", lambda: store.get("k"))
    assert not isinstance(error, CredentialsError)
    assert "500" in str(error) or "InternalError" in str(error)
    fails(StorageError, f"cannot stat s3://{bucket}/ds/k", lambda: store.size("k"))
    linked = open_linked(f"s3://{bucket}/ds/k", Credentials.explicit(creds))
    fails(StorageError, f"cannot stat s3://{bucket}/ds/k", linked.identity)


def test_s3_unreachable_server():
    creds = s3_creds(f"http://127.0.0.1:{free_port()}")
    store = open_store("s3://gone/ds", creds)
    error = fails(StorageError, "cannot read s3://gone/ds/k: ", lambda: store.get("k"))
    assert not isinstance(error, CredentialsError)


# --- GCS -------------------------------------------------------------------------------


def test_gcs_missing_object_server_error_and_bad_range(gcs):
    bucket = gcs.new_bucket()
    gcs.fs.pipe_file(f"{bucket}/ds/k", b"0123456789")
    proxy = Proxy(os.environ["STORAGE_EMULATOR_HOST"])
    try:
        creds = {"token": "anon", "endpoint_url": proxy.url}
        store = open_store(f"gcs://{bucket}/ds", creds)
        fails(FileNotFoundError, f"gcs://{bucket}/ds/nope", lambda: store.get("nope"))
        url = f"gcs://{bucket}/ds/nope.mp4"
        fails(SourceNotFoundError, f"{url}: no such object", lambda: read_source(url, creds))
        linked = open_linked(url, Credentials.explicit({"endpoint_url": proxy.url}))
        fails(SourceNotFoundError, f"{url}: no such object", linked.identity)
        assert store.get_range("k", 8, 30) == b"89"
        fails(StorageError, "HTTP 416", lambda: store.get_range("k", 20, 30))

        proxy.faults.append(Fault(lambda method, path: "ds" in path, 100, 503))
        error = fails(StorageError, f"cannot read gcs://{bucket}/ds/k: ", lambda: store.get("k"))
        assert not isinstance(error, CredentialsError)
    finally:
        proxy.stop()


def test_gcs_unusable_credentials(gcs, tmp_path):
    """An authorized-user file whose refresh cannot succeed (no network to Google)."""
    bucket = gcs.new_bucket()
    token = tmp_path / "adc.json"
    fields = {"client_id": KEY_ID, "client_secret": SECRET, "refresh_token": TOKEN}
    token.write_text(json.dumps({"type": "authorized_user", **fields}))
    store = open_store(
        f"gcs://{bucket}/ds",
        {"token": str(token), "endpoint_url": f"http://127.0.0.1:{free_port()}"},
    )
    with pytest.raises((CredentialsError, StorageError)) as caught:
        store.get("k")
    assert_clean(caught.value)


# --- HTTP ------------------------------------------------------------------------------


class StatusServer:
    """Answers ``/NNN/...`` with HTTP status NNN (a body quoting the request's secrets,
    as careless servers do); ``/hang/...`` accepts and never answers."""

    def __init__(self) -> None:
        self.hung: list[socket.socket] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                self.do_GET()

            def do_GET(self) -> None:
                if self.path.startswith("/hang/"):
                    outer.hung.append(self.connection)
                    threading.Event().wait(5)
                    return
                status = int(self.path.split("/")[1])
                body = f"denied {self.path} {self.headers.get('Authorization')}".encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command == "GET":
                    self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def status():
    server = StatusServer()
    yield server
    server.stop()


HEADERS = {"headers": {"Authorization": f"Bearer {TOKEN}", "X-Api-Key": KEY_ID}}


def _secret_url(base: str, path: str) -> str:
    return f"{base}/{path}/clip.mp4?X-Amz-Signature={SECRET}&token={TOKEN}&part=1"


@pytest.mark.parametrize(
    ("path", "expected", "needle"),
    [
        ("404", SourceNotFoundError, "no such object"),
        ("401", CredentialsError, "access denied to"),
        ("403", CredentialsError, "access denied to"),
        ("500", StorageError, "cannot download"),
        ("416", StorageError, "cannot download"),
        ("hang", StorageError, "did not answer in time"),
    ],
)
def test_http_sources(status, path, expected, needle, monkeypatch):
    monkeypatch.setenv("HUBCLI_READ_TIMEOUT", "1")
    url = _secret_url(status.url, path)
    error = fails(expected, needle, lambda: read_source(url, HEADERS))
    assert "part=1" in str(error)  # the URL is named, redacted


@pytest.mark.parametrize(
    ("path", "expected", "needle"),
    [
        ("404", SourceNotFoundError, "no such object"),
        ("403", CredentialsError, "access denied to"),
        ("503", StorageError, "cannot stat"),
    ],
)
def test_http_links(status, path, expected, needle):
    linked = open_linked(_secret_url(status.url, path), Credentials.anonymous())
    fails(expected, needle, linked.identity)


def test_http_bad_range_and_unreachable(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"0123456789")
    server = FileServer(tmp_path)
    url = f"{server.url}/a.mp4?sig={SECRET}"
    linked = open_linked(url, Credentials.anonymous())
    assert linked.identity().size == 10
    assert linked.read_ranges([(8, 30)]) == [b"89"]
    server.stop()
    gone = open_linked(
        f"http://127.0.0.1:{free_port()}/a.mp4?token={TOKEN}", Credentials.anonymous()
    )
    fails(StorageError, "cannot stat", gone.identity)


# --- Google Drive ----------------------------------------------------------------------


@pytest.fixture
def drive(monkeypatch):
    server = DriveServer()
    monkeypatch.setenv("HUBCLI_GDRIVE_API", server.api)
    yield server
    server.stop()


def test_drive(drive, monkeypatch):
    drive.add("driveFileErr0001", b"0123456789", "the-right-token")
    wrong = Credentials.explicit({"token": TOKEN})
    fails(
        CredentialsError,
        "access denied to gdrive://driveFileErr0001",
        open_linked("gdrive://driveFileErr0001", wrong).identity,
    )
    fails(
        SourceNotFoundError,
        "gdrive://driveFileNone01: no such object",
        open_linked("gdrive://driveFileNone01", wrong).identity,
    )
    monkeypatch.setenv("HUBCLI_GDRIVE_TOKEN", TOKEN)
    fails(
        CredentialsError,
        "access denied to",
        open_linked("gdrive://driveFileErr0001", Credentials.environment()).identity,
    )
    fails(
        CredentialsError,
        "needs an OAuth token",
        open_linked("gdrive://driveFileErr0001", Credentials.anonymous()).identity,
    )
    right = open_linked(
        "gdrive://driveFileErr0001", Credentials.explicit({"token": "the-right-token"})
    )
    assert right.read_ranges([(2, 4)]) == [b"23"]


# --- local -----------------------------------------------------------------------------


def test_local(tmp_path):
    store = LocalStore(tmp_path)
    fails(FileNotFoundError, "nope", lambda: store.get("nope"))
    missing = str(tmp_path / "nope.mp4")
    fails(
        SourceNotFoundError,
        f"{missing}: no such file",
        open_linked(missing, Credentials.anonymous()).identity,
    )
    (tmp_path / "a.mp4").write_bytes(b"0123456789")
    assert open_linked(str(tmp_path / "a.mp4"), Credentials.anonymous()).read_ranges([(8, 30)]) == [
        b"89"
    ]


# --- the value ------------------------------------------------------------------------


def test_credentials_repr_shows_no_secret():
    creds = Credentials.explicit({"aws_access_key_id": KEY_ID, "aws_secret_access_key": SECRET})
    for text in (repr(creds), str(creds), repr(creds.secrets)):
        assert KEY_ID not in text and SECRET not in text
        assert re.search(r"aws_access_key_id=\*\*\*", text)
    assert creds.options("s3") == {"aws_access_key_id": KEY_ID, "aws_secret_access_key": SECRET}
    assert Credentials.explicit({"endpoint_url": "x"}).options("s3") == {
        "endpoint_url": "x",
        "anonymous": "true",
    }
    assert Credentials.environment().options("s3") is None
    assert Credentials.anonymous().options("gcs") == {"token": "anon"}
