"""Issue 13 point 5: no secret in any message, traceback or log line that leaves hubcli.

The attack: a presigned ``http(s)`` source (X-Amz-Signature, X-Amz-Credential, a token)
on a server answering 5xx. hubcli redacted its own copy of the URL, then appended
aiohttp's error text, which quotes the whole URL; ``--debug`` printed a 403 URL's token
in the traceback and in the retry log. One redaction (hubcli/redaction.py) now runs in
every HubcliError, at the CLI's one error/warning printer, on --debug tracebacks and on
log records; a link never stores such a URL.
"""

from __future__ import annotations

import http.server
import io
import logging
import threading
import traceback

import pytest

import hubcli
from hubcli.cli import output
from hubcli.errors import HubcliError, InvalidSampleError, StorageError
from hubcli.redaction import (
    RedactingFilter,
    has_secrets,
    is_secret_name,
    redact,
    redact_url,
)
from support.clirun import assert_user_error, hubcli_run

SIGNATURE = "f00dfeedcafe0123456789abcdef0123456789abcdef0123456789abcdef0123"
KEY_ID = "AKIAIOSFODNN7EXAMPLE"
TOKEN = "tok-SECRET-0042"
SECRETS = (SIGNATURE, KEY_ID, TOKEN, "SECRET")


class StatusServer:
    """Answers every request with one HTTP status (and a short body), as a presigned
    URL's server does when it fails: 5xx (retried), 403 (not)."""

    def __init__(self, status: int) -> None:
        outer = self
        self.status = status
        self.requests = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                self._answer()

            def do_GET(self) -> None:
                self._answer()

            def _answer(self) -> None:
                outer.requests += 1
                body = b"<Error><Code>InternalError</Code></Error>"
                self.send_response(outer.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # clients that hang up early are not this test's business

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def status_server(request):
    server = StatusServer(request.param)
    yield server
    server.stop()


def presigned(base: str) -> str:
    return (
        f"{base}/clips/a.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential={KEY_ID}%2F20240101%2Fus-east-1%2Fs3%2Faws4_request"
        f"&X-Amz-Date=20240101T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
        f"&X-Amz-Signature={SIGNATURE}&token={TOKEN}&part=1"
    )


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, (secret, text)


@pytest.fixture
def videos_ds(tmp_path):
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("videos")
    return ds


# --- the attack, end to end -------------------------------------------------------------


@pytest.mark.parametrize("status_server", [500, 503], indirect=True)
def test_a_presigned_source_answering_5xx_leaks_nothing(videos_ds, status_server):
    url = presigned(status_server.url)
    with pytest.raises(StorageError) as caught:
        videos_ds.videos.append(hubcli.read(url))
    assert status_server.requests > 1  # retried: a 5xx is transient
    message = str(caught.value)
    assert message.startswith(f"cannot download {status_server.url}/clips/a.mp4?")
    assert "X-Amz-Signature=REDACTED" in message and "part=1" in message
    assert_clean(message)
    # The whole traceback a Python user would see, chained causes included.
    assert_clean("".join(traceback.format_exception(caught.value)))

    run = hubcli_run("append", videos_ds.path, "videos", url)
    assert_user_error(run, f"cannot download {status_server.url}/clips/a.mp4?")
    assert_clean(run.stderr)


@pytest.mark.parametrize("status_server", [403], indirect=True)
def test_debug_traceback_of_a_403_shows_no_token(videos_ds, status_server):
    url = f"{status_server.url}/a.mp4?token=SECRET&access-token=SECRET2&keyframe=1"
    run = hubcli_run("--debug", "append", videos_ds.path, "videos", url)
    assert run.code == 1
    assert "Traceback (most recent call last)" in run.stderr
    assert "CredentialsError: access denied to" in run.stderr
    assert "keyframe=1" in run.stderr  # harmless parameters stay
    assert "SECRET" not in run.stderr


@pytest.mark.parametrize("status_server", [503], indirect=True)
def test_debug_log_of_retries_shows_no_signature(videos_ds, status_server):
    run = hubcli_run("--debug", "append", videos_ds.path, "videos", presigned(status_server.url))
    assert run.code == 1
    assert "DEBUG:hubcli.storage:download" in run.stderr and "retry 1" in run.stderr
    assert_clean(run.stderr)


# --- where redaction is applied -----------------------------------------------------------


def test_every_hubcli_error_is_redacted():
    error = HubcliError(
        f"cannot read https://u:pw@host/x?sig={SIGNATURE}", hint=f"Authorization: Bearer {TOKEN}"
    )
    assert str(error) == "cannot read https://host/x?sig=REDACTED; Authorization: REDACTED"
    assert error.args == ("cannot read https://host/x?sig=REDACTED",)


def test_cli_error_and_warning_lines_are_redacted(capsys):
    output.error(f"internal error: ClientResponseError: 500, url='http://h/a?token={TOKEN}'")
    output.warn(f"http://h/a?X-Amz-Credential={KEY_ID}: the server ignores Range requests")
    err = capsys.readouterr().err
    assert err.count("\n") == 2
    assert "token=REDACTED" in err and "X-Amz-Credential=REDACTED" in err
    assert_clean(err)


def _fail_with_a_signed_url():
    raise OSError(f"GET http://h/a?X-Amz-Signature={SIGNATURE} failed")


def test_log_records_are_redacted():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("hubcli.test_redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            _fail_with_a_signed_url()
        except OSError as exc:
            logger.error("download %s failed: %s", f"http://h/a?token={TOKEN}", exc, exc_info=True)
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "download http://h/a?token=REDACTED failed" in text and "Traceback" in text
    assert_clean(text)


# --- the rule -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("token", True),
        ("access-token", True),
        ("access_token", True),
        ("accessToken", True),
        ("accesstoken", True),
        ("private_token", True),
        ("id_token", True),
        ("jwt", True),
        ("sig", True),
        ("Signature", True),
        ("key", True),
        ("apiKey", True),
        ("APIKey", True),
        ("api_key", True),
        ("credential", True),
        ("client_secret", True),
        ("password", True),
        ("pwd", True),
        ("auth", True),
        ("session_id", True),
        ("X-Amz-Signature", True),
        ("x-amz-credential", True),
        ("X-Amz-Security-Token", True),
        ("X-Amz-Date", True),
        ("x-goog-signature", True),
        ("keyframe", False),
        ("resourcekey", False),
        ("author", False),
        ("usp", False),
        ("part", False),
        ("monkey", False),
        ("creds_key", False),  # hubcli's own argument: a key's name
    ],
)
def test_secret_names(name, secret):
    assert is_secret_name(name) is secret


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # aiohttp's text after ours: the URL it quotes, decoded.
        (
            f"503, message='Service Unavailable', url='http://h/a.mp4?X-Amz-Credential="
            f"{KEY_ID}/20240101/us-east-1&X-Amz-Signature={SIGNATURE}&part=1'",
            "503, message='Service Unavailable', url='http://h/a.mp4?X-Amz-Credential="
            "REDACTED&X-Amz-Signature=REDACTED&part=1'",
        ),
        (f"bare X-Amz-Signature={SIGNATURE} in text", "bare X-Amz-Signature=REDACTED in text"),
        ("https://user:pass@example.com/a.mp4", "https://example.com/a.mp4"),
        (f"https://x/cb#access_token={TOKEN}&expires_in=3599", None),
        (f"Authorization: Bearer {TOKEN}", "Authorization: REDACTED"),
        (f"sent {{'Authorization': 'Bearer {TOKEN}', 'Range': 'bytes=0-9'}}", None),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: REDACTED"),
        ("header Basic dXNlcjpwYXNz", "header Basic REDACTED"),
        (f"then Bearer {TOKEN}.", None),
        (
            f"AWS4-HMAC-SHA256 Credential={KEY_ID}/20240101/us-east-1/s3/aws4_request, "
            f"SignedHeaders=host;x-amz-date, Signature={SIGNATURE}",
            "AWS4-HMAC-SHA256 Credential=REDACTED, SignedHeaders=host;x-amz-date, "
            "Signature=REDACTED",
        ),
        (f'{{"aws_secret_access_key": "{TOKEN}", "region": "eu"}}', None),
        (f"X-Amz-Security-Token: {TOKEN}", "X-Amz-Security-Token: REDACTED"),
        (f"key id {KEY_ID} refused", "key id REDACTED refused"),
        (f"?token={TOKEN}: 503", "?token=REDACTED: 503"),
        (f"token='{TOKEN} x'", "token='REDACTED'"),
        # Harmless text stays as it is.
        ("cannot read s3://b/session-data: InternalError", None),
        ("https://example.com/a.mp4?keyframe=1&author=me", None),
        ("https://drive.google.com/file/d/x/view?usp=sharing&resourcekey=0-abc", None),
        ("set HUBCLI_GDRIVE_TOKEN with creds_key='ENV'", None),
        ("append hubcli.link(url, creds_key=...) or a URL", None),
        ("Basic checks failed; Basic Authentication", None),
        ("Content-Type: video/mp4", None),
    ],
)
def test_redact(text, expected):
    got = redact(text)
    if expected is not None:
        assert got == expected
    elif not any(secret in text for secret in SECRETS):
        assert got == text  # nothing secret: unchanged
    assert_clean(got)
    assert redact(got) == got  # idempotent


def test_redact_url_keeps_everything_else_verbatim():
    url = f"https://u:p@h/a%20b.mp4?x=%2F1&Signature={SIGNATURE}&y=a+b#t=10&access_token={TOKEN}"
    assert redact_url(url) == (
        "https://h/a%20b.mp4?x=%2F1&Signature=REDACTED&y=a+b#t=10&access_token=REDACTED"
    )


# --- links never store a URL with a secret ------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"https://h/a.mp4?token={TOKEN}",
        f"https://h/a.mp4?access-token={TOKEN}",
        f"https://h/a.mp4?private_token={TOKEN}",
        f"https://h/a.mp4?jwt={TOKEN}",
        f"https://h/a.mp4?sig={TOKEN}",
        f"https://h/a.mp4?Signature={SIGNATURE}",
        f"https://h/a.mp4?key={TOKEN}",
        f"https://h/a.mp4?credential={TOKEN}",
        f"https://h/a.mp4?X-Goog-Credential={TOKEN}",
        f"https://h/a.mp4?X-Amz-Security-Token={TOKEN}",
        f"https://h/a.mp4#access_token={TOKEN}",
        f"https://h/a.mp4?part=1#id_token={TOKEN}",
        "https://user:pw@h/a.mp4",
    ],
)
def test_links_refuse_urls_carrying_secrets(url):
    assert has_secrets(url)
    with pytest.raises(InvalidSampleError, match="the URL carries credentials") as caught:
        hubcli.link(url)
    assert_clean(str(caught.value))


@pytest.mark.parametrize(
    "url",
    [
        "https://drive.google.com/file/d/driveFileA0001/view?usp=sharing&resourcekey=0-abc",
        "https://example.com/a.mp4?keyframe=1&author=me#t=10",
    ],
)
def test_links_keep_harmless_urls(url):
    assert not has_secrets(url)
    assert hubcli.link(url).url == url
