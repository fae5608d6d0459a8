"""The playback server: dataset videos over HTTP with Range, for the browser's player.

Safety (README "Security of the playback server"):

- it binds 127.0.0.1 by default, and answers only requests whose ``Host`` names it
  (loopback names, the bound host), so a DNS-rebinding page cannot reach it;
- every URL starts with a random token; a sample's token (``player_url``) opens that
  sample's page, video and thumbnail only, the dataset token (``url``) everything;
- the browser is handed a private file that redirects to the token URL
  (``launch_url``), never the token itself, so no process's argv holds it;
- URL paths are matched against a few fixed routes and never reach the file system;
  every byte sent is read through the store or the link checks and verified first
  (hubcli/serve/library.py); bodies stream in pieces, so memory per request is bounded;
- idle connections are closed after ``idle_timeout`` seconds; the request log is bounded;
- it never writes to the dataset (remuxed or transcoded copies and launch files go to a
  private temp folder, removed when the server stops).
"""

from __future__ import annotations

import hmac
import http.server
import ipaddress
import logging
import secrets
import shutil
import socket
import sys
import tempfile
import threading
import warnings
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from hubcli.errors import HubcliError, HubcliWarning
from hubcli.serve.library import Library, Piece
from hubcli.serve.pages import dataset_page, player_page, redirect_page, sample_card
from hubcli.serve.parse import Refused, byte_range, host_allowed, page_start, sample_ref, segments

if TYPE_CHECKING:
    from collections.abc import Generator

    from hubcli.core.dataset import Dataset

log = logging.getLogger("hubcli.serve")

PAGE_SIZE = 60
#: Requests remembered in ``PlaybackServer.requests`` (the oldest are dropped).
REQUEST_LOG = 1000
#: Seconds a connection may stay silent (or leave our writes unread) before it is closed.
IDLE_TIMEOUT = 30.0
_LOGGED_CHARS = 200  # of a path or Range header in the request log


@dataclass(frozen=True, slots=True)
class Grant:
    """What a token opens: the whole dataset (``sample`` None), or one sample's player
    page, video and thumbnail."""

    token: str
    sample: tuple[str, int] | None = None

    def allows(self, tensor: str, index: int) -> bool:
        return self.sample is None or self.sample == (tensor, index)


class Logged(NamedTuple):
    """One answered request, its token replaced by ``TOKEN``."""

    method: str
    path: str
    range: str | None
    status: int


class PlaybackServer:
    """A running server; ``url`` is its dataset page, ``player_url``/``video_url`` give a
    sample's addresses under that sample's own token. Stop it with :meth:`stop` (or use
    it as a context manager)."""

    def __init__(
        self,
        dataset: Dataset,
        host: str = "127.0.0.1",
        port: int = 0,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        if not _is_loopback(host):
            warnings.warn(
                f"serving on {host}: anyone who can reach this machine and has the URL can "
                "watch these videos (the URL's random token is the only protection)",
                HubcliWarning,
                stacklevel=2,
            )
        self.idle_timeout = idle_timeout
        self._private = Path(tempfile.mkdtemp(prefix="hubcli-play-"))  # mode 0700
        self.library = Library(dataset, self._private)
        self.requests: deque[Logged] = deque(maxlen=REQUEST_LOG)
        self._whole = Grant(secrets.token_urlsafe(18))
        self._grants: dict[str, Grant] = {self._whole.token: self._whole}
        self._by_sample: dict[tuple[str, int], Grant] = {}
        self._lock = threading.Lock()
        try:
            self.httpd = _Server((host, port), _handler(self))
        except OSError as exc:
            shutil.rmtree(self._private, ignore_errors=True)
            raise HubcliError(
                f"cannot serve on {host}:{port}: {exc.strerror}", hint="pick another --port"
            ) from None
        self.host, self.port = str(self.httpd.server_address[0]), int(self.httpd.server_address[1])
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.origin = f"http://{shown}:{self.port}"
        self.base = self.base_of(self._whole)
        self.url = f"{self.base}/"
        self.host_names = frozenset({"127.0.0.1", "localhost", "[::1]", shown, host.lower()})
        # A wildcard bind is reached by any of the machine's addresses (or its name).
        self.any_ip = _is_wildcard(self.host)
        if self.any_ip:
            self.host_names |= {socket.gethostname().lower()}
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, daemon=True, name="hubcli-serve"
        )
        self._thread.start()

    @property
    def token(self) -> str:
        """The dataset token: it opens every page of the server."""
        return self._whole.token

    def sample_grant(self, tensor: str, index: int) -> Grant:
        """The token of one sample (made on first use): its page, video and thumbnail."""
        with self._lock:
            grant = self._by_sample.get((tensor, index))
            if grant is None:
                grant = Grant(secrets.token_urlsafe(18), (tensor, index))
                self._by_sample[(tensor, index)] = self._grants[grant.token] = grant
            return grant

    def grant(self, token: str) -> Grant | None:
        """The grant of ``token``, compared as bytes in constant time."""
        wanted, found = token.encode(), None
        with self._lock:
            known = list(self._grants.values())
        for grant in known:
            if hmac.compare_digest(grant.token.encode(), wanted):
                found = grant
        return found

    def base_of(self, grant: Grant) -> str:
        """The URL prefix of ``grant``'s pages."""
        return f"{self.origin}/{grant.token}"

    def player_url(self, tensor: str, index: int) -> str:
        return f"{self.base_of(self.sample_grant(tensor, index))}/play/{tensor}/{index}"

    def video_url(self, tensor: str, index: int) -> str:
        return f"{self.base_of(self.sample_grant(tensor, index))}/video/{tensor}/{index}"

    def launch_url(self, url: str) -> str:
        """A ``file://`` URL to hand the browser instead of ``url``: a file, readable by
        this user only (0600 in our 0700 folder), that redirects to ``url``. A browser's
        argv is public (``ps``), so the token must not be in it.

        Chosen over a one-time launch path that sets a cookie: cookies are not bound to
        a port, so any server another user runs on 127.0.0.1 would receive ours, and a
        launch path in argv is a race that another user can win."""
        fd, name = tempfile.mkstemp(prefix="open-", suffix=".html", dir=self._private)
        with open(fd, "wb") as f:
            f.write(redirect_page(url))
        return Path(name).as_uri()

    def log(self, method: str, path: str, wanted: str | None, status: int) -> None:
        parts = path.split("/")
        route = "/".join(["", "TOKEN", *parts[2:]]) if len(parts) > 1 else path
        clipped = wanted[:_LOGGED_CHARS] if wanted is not None else None
        self.requests.append(Logged(method, route[:_LOGGED_CHARS], clipped, status))

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        shutil.rmtree(self._private, ignore_errors=True)

    def __enter__(self) -> PlaybackServer:
        return self

    def __exit__(self, *args: object) -> None:
        self.stop()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that went away (seeking cancels requests; tabs close) is no error: the
        # stdlib would print a traceback for it, also from its own request loop.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        log.debug("a playback request failed", exc_info=True)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def _handler(server: PlaybackServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(_Requests):
        server_ref = server
        # An idle connection (or one that leaves our writes unread) is closed, instead
        # of holding a thread forever.
        timeout = server.idle_timeout

    return Handler


class _Requests(http.server.BaseHTTPRequestHandler):
    """One connection's requests. ``server_ref`` is the PlaybackServer (set per server)."""

    protocol_version = "HTTP/1.1"
    server_version = "hubcli"
    sys_version = ""
    server_ref: PlaybackServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # URLs hold the token: never into logs

    def end_headers(self) -> None:
        # Every answer, error pages of the stdlib included: a page's links never tell
        # another site the token URL they came from.
        self.send_header("Referrer-Policy", "no-referrer")
        super().end_headers()

    def do_HEAD(self) -> None:
        self._handle(head=True)

    def do_GET(self) -> None:
        self._handle(head=False)

    # --- answering --------------------------------------------------------------------
    def _start(
        self, status: int, length: int, content_type: str, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.server_ref.log(self.command, urlsplit(self.path).path, self._range(), status)

    def _reply(
        self,
        status: int,
        body: bytes,
        content_type: str,
        head: bool,
        extra: dict[str, str] | None = None,
    ) -> None:
        self._start(status, len(body), content_type, extra)
        if not head:
            self.wfile.write(body)

    def _text(
        self, status: int, text: str, head: bool, extra: dict[str, str] | None = None
    ) -> None:
        self._reply(status, f"{text}\n".encode(), "text/plain; charset=utf-8", head, extra)

    def _range(self) -> str | None:
        value: str | None = self.headers.get("Range")
        return value

    # --- routing ----------------------------------------------------------------------
    def _handle(self, head: bool) -> None:
        try:
            self._dispatch(head)
        except Refused as exc:
            self._text(exc.status, exc.reason, head, exc.headers)
        except LookupError:
            self._text(404, "not found", head)
        except HubcliError as exc:
            self._text(500, str(exc), head)
        except (ConnectionError, TimeoutError):
            self.close_connection = True  # the browser moved on (seeking cancels requests)

    def _dispatch(self, head: bool) -> None:
        server = self.server_ref
        if not host_allowed(
            self.headers.get("Host"), server.host_names, server.port, server.any_ip
        ):
            raise Refused(421, "unknown host")
        url = urlsplit(self.path)
        parts = segments(url.path)
        grant = server.grant(parts[0]) if parts else None
        if grant is None:
            raise Refused(403, "forbidden")
        route = parts[1:]
        if route in ([], [""]):
            if grant.sample is not None:
                raise Refused(403, "forbidden")
            self._dataset_page(page_start(url.query), head)
        elif len(route) == 3 and route[0] in ("play", "video", "thumb"):
            ref = route[2].removesuffix(".png") if route[0] == "thumb" else route[2]
            if route[0] == "thumb" and not route[2].endswith(".png"):
                raise LookupError(route[2])
            tensor, index = sample_ref(route[1], ref)
            if not grant.allows(tensor, index):
                raise Refused(403, "forbidden")
            self._sample(route[0], grant, tensor, index, head)
        else:
            raise LookupError(url.path)

    def _sample(self, kind: str, grant: Grant, tensor: str, index: int, head: bool) -> None:
        lib = self.server_ref.library
        if kind == "play":
            info = lib.sample(tensor, index).sample_info
            base, whole = self.server_ref.base_of(grant), grant.sample is None
            labels = lib.labels(index, index + 1)[index]
            body = player_page(base, tensor, index, info, lib.mode(tensor, index), whole, labels)
            self._reply(200, body, "text/html; charset=utf-8", head)
        elif kind == "thumb":
            lib.sample(tensor, index)
            self._reply(200, lib.thumbnail(tensor, index), "image/png", head)
        else:
            self._video(tensor, index, head)

    def _dataset_page(self, start: int, head: bool) -> None:
        server = self.server_ref
        lib = server.library
        ds = lib.dataset
        tensors = []
        labels = lib.labels(start, start + PAGE_SIZE)
        for name, tensor in ds.tensors.items():
            stop = min(len(tensor), start + PAGE_SIZE)
            if tensor.holds_values:
                tensors.append(
                    {
                        "name": name,
                        "htype": tensor.htype,
                        "length": len(tensor),
                        "cards": [],
                        "nav": [],
                    }
                )
                continue
            cards = [
                sample_card(
                    server.base,
                    name,
                    i,
                    lib.sample(name, i).sample_info,
                    lib.mode(name, i),
                    labels.get(i),
                )
                for i in range(start, stop)
            ]
            nav = []
            if start > 0:
                nav.append(("previous", f"{server.base}/?start={max(0, start - PAGE_SIZE)}"))
            if stop < len(tensor):
                nav.append(("next", f"{server.base}/?start={stop}"))
            tensors.append(
                {
                    "name": name,
                    "htype": tensor.htype,
                    "length": len(tensor),
                    "cards": cards,
                    "nav": nav,
                }
            )
        body = dataset_page(server.base, f"hubcli: {ds.path}", tensors)
        self._reply(200, body, "text/html; charset=utf-8", head)

    # --- video ------------------------------------------------------------------------
    def _video(self, tensor: str, index: int, head: bool) -> None:
        playable = self.server_ref.library.playable(tensor, index)
        size = playable.size
        extra = {"Accept-Ranges": "bytes"}
        span = byte_range(self._range(), size)
        status, (start, end) = (200, (0, size)) if span is None else (206, span)
        if span is not None:
            extra["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        if head:
            self._start(status, end - start, playable.content_type, extra)
            return
        pieces = playable.pieces(start, end)
        try:
            # The first piece is read and checked before the status line: a sample that
            # fails its checks answers an error status, not a cut body.
            first = next(pieces, b"")
            self._start(status, end - start, playable.content_type, extra)
            self.wfile.write(first)
            self._send_rest(pieces, f"{tensor}[{index}]")
        finally:
            pieces.close()

    def _send_rest(self, pieces: Generator[Piece, None, None], where: str) -> None:
        try:
            for piece in pieces:
                self.wfile.write(piece)
        except HubcliError:
            # Bytes that fail their check are never sent; the status line is out, so
            # the only honest end is a cut connection (the player sees an error).
            log.debug("%s: stopped sending", where, exc_info=True)
            self.close_connection = True
