"""The playback server: dataset videos over HTTP with Range, for the browser's player.

Safety: it binds 127.0.0.1 by default; every URL starts with a random token (other users
of the machine cannot guess it); URL paths are matched against a few fixed routes and
never reach the filesystem; it never writes to the dataset (remuxed or transcoded copies
go to a private temp folder, removed when the server stops).
"""

from __future__ import annotations

import hmac
import http.server
import ipaddress
import re
import secrets
import shutil
import tempfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from hubcli.core.sample import SampleView
from hubcli.errors import HubcliError, HubcliWarning
from hubcli.format.manifest import TENSOR_NAME_RE
from hubcli.serve.pages import dataset_page, player_page, sample_card
from hubcli.serve.png import encode_png
from hubcli.video.remux import playback_plan, remux_to_mp4, transcode_to_mp4

if TYPE_CHECKING:
    from hubcli.core.dataset import Dataset
    from hubcli.core.reader import ByteSource

PAGE_SIZE = 60
_COPY_BLOCK = 1 << 20
_CONTENT_TYPES = {
    "mp4": "video/mp4",
    "mov": "video/mp4",
    "webm": "video/webm",
    "mkv": "video/x-matroska",
}
_RANGE_RE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass
class Playable:
    """A sample's bytes as the browser gets them."""

    size: int
    content_type: str
    mode: str  # direct, remux, transcode
    source: ByteSource | None = None  # direct: read from the dataset
    path: Path | None = None  # remux/transcode: a local copy

    def read(self, start: int, end: int) -> bytes:
        if self.path is not None:
            with open(self.path, "rb") as f:
                f.seek(start)
                return f.read(end - start)
        assert self.source is not None
        return self.source.read([(start, end)])[0]


class Library:
    """What the server can show: the dataset's samples, made playable on demand."""

    def __init__(self, dataset: Dataset, cache_dir: Path) -> None:
        self.dataset = dataset
        self.cache_dir = cache_dir
        self._playables: dict[tuple[str, int], Playable] = {}
        self._thumbs: dict[tuple[str, int], bytes] = {}
        self._lock = threading.Lock()

    def sample(self, tensor: str, index: int) -> SampleView:
        if tensor not in self.dataset or not 0 <= index < len(self.dataset[tensor]):
            raise LookupError(f"{tensor}[{index}]")
        return SampleView(self.dataset[tensor], index, ())

    def mode(self, tensor: str, index: int) -> str:
        rec = self.sample(tensor, index).record()
        return playback_plan(rec.format, rec.codec.name)

    def playable(self, tensor: str, index: int) -> Playable:
        with self._lock:  # one remux/transcode per sample, even with parallel requests
            key = (tensor, index)
            if key not in self._playables:
                self._playables[key] = self._prepare(tensor, index)
            return self._playables[key]

    def _prepare(self, tensor: str, index: int) -> Playable:
        view = self.sample(tensor, index)
        rec = view.record()
        source = self.dataset[tensor].reader().byte_source(index)
        mode = playback_plan(rec.format, rec.codec.name)
        if mode == "direct":
            return Playable(rec.size, _CONTENT_TYPES[rec.format], mode, source=source)
        original = self.cache_dir / f"{tensor}-{index}-source.{rec.format}"
        with open(original, "wb") as f:
            for start in range(0, rec.size, _COPY_BLOCK):
                f.write(source.read([(start, min(start + _COPY_BLOCK, rec.size))])[0])
        target = self.cache_dir / f"{tensor}-{index}.mp4"
        (remux_to_mp4 if mode == "remux" else transcode_to_mp4)(original, target)
        original.unlink()
        return Playable(target.stat().st_size, "video/mp4", mode, path=target)

    def thumbnail(self, tensor: str, index: int) -> bytes:
        key = (tensor, index)
        if key not in self._thumbs:
            view = SampleView(self.dataset[tensor], index, (0,))
            self._thumbs[key] = encode_png(view.numpy())
        return self._thumbs[key]


class PlaybackServer:
    """A running server; ``url`` is its dataset page, ``video_url``/``player_url`` give
    a sample's addresses. Stop it with :meth:`stop` (or use it as a context manager)."""

    def __init__(self, dataset: Dataset, host: str = "127.0.0.1", port: int = 0) -> None:
        if not _is_loopback(host):
            warnings.warn(
                f"serving on {host}: anyone who can reach this machine and has the URL can "
                "watch these videos (the URL's random token is the only protection)",
                HubcliWarning,
                stacklevel=2,
            )
        self.token = secrets.token_urlsafe(18)
        self._cache = Path(tempfile.mkdtemp(prefix="hubcli-play-"))
        self.library = Library(dataset, self._cache)
        self.requests: list[tuple[str, str, str | None, int]] = []  # method, path, Range, status
        handler = _handler(self)
        try:
            self.httpd = http.server.ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            shutil.rmtree(self._cache, ignore_errors=True)
            raise HubcliError(
                f"cannot serve on {host}:{port}: {exc.strerror}", hint="pick another --port"
            ) from None
        self.httpd.daemon_threads = True
        self.host, self.port = str(self.httpd.server_address[0]), int(self.httpd.server_address[1])
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.base = f"http://{shown}:{self.port}/{self.token}"
        self.url = f"{self.base}/"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, daemon=True, name="hubcli-serve"
        )
        self._thread.start()

    def player_url(self, tensor: str, index: int) -> str:
        return f"{self.base}/play/{tensor}/{index}"

    def video_url(self, tensor: str, index: int) -> str:
        return f"{self.base}/video/{tensor}/{index}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        shutil.rmtree(self._cache, ignore_errors=True)

    def __enter__(self) -> PlaybackServer:
        return self

    def __exit__(self, *args: object) -> None:
        self.stop()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _handler(server: PlaybackServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "hubcli"
        sys_version = ""

        def log_message(self, *args: object) -> None:
            pass  # URLs hold the token: never into logs

        def do_HEAD(self) -> None:
            self._handle(head=True)

        def do_GET(self) -> None:
            self._handle(head=False)

        def _reply(
            self,
            status: int,
            body: bytes,
            content_type: str,
            head: bool,
            extra: dict[str, str] | None = None,
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if not head:
                self.wfile.write(body)
            server.requests.append(
                (self.command, self._route_for_log(), self.headers.get("Range"), status)
            )

        def _route_for_log(self) -> str:
            return urlsplit(self.path).path.replace(server.token, "TOKEN")

        def _handle(self, head: bool) -> None:
            try:
                self._dispatch(head)
            except LookupError:
                self._reply(404, b"not found\n", "text/plain", head)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the browser moved on (seeking cancels requests)
            except HubcliError as exc:
                self._reply(500, f"{exc}\n".encode(), "text/plain; charset=utf-8", head)

        def _dispatch(self, head: bool) -> None:
            url = urlsplit(self.path)
            raw = url.path
            # Only exact, decoded-once segments: an encoded '/' or '..' stays inside a
            # segment and matches no route.
            segments = [unquote(s) for s in raw.split("/")[1:]]
            if not segments or not hmac.compare_digest(segments[0], server.token):
                self._reply(403, b"forbidden\n", "text/plain", head)
                return
            route = segments[1:]
            if route in ([], [""]):
                self._dataset_page(parse_qs(url.query), head)
            elif len(route) == 3 and route[0] in ("play", "video", "thumb"):
                tensor, index = _sample_ref(
                    route[1], route[2].removesuffix(".png") if route[0] == "thumb" else route[2]
                )
                if route[0] == "play":
                    lib = server.library
                    info = lib.sample(tensor, index).sample_info
                    self._reply(
                        200,
                        player_page(server.base, tensor, index, info, lib.mode(tensor, index)),
                        "text/html; charset=utf-8",
                        head,
                    )
                elif route[0] == "thumb":
                    if not route[2].endswith(".png"):
                        raise LookupError(route[2])
                    self._reply(200, server.library.thumbnail(tensor, index), "image/png", head)
                else:
                    self._video(tensor, index, head)
            else:
                raise LookupError(raw)

        def _dataset_page(self, query: dict[str, list[str]], head: bool) -> None:
            lib = server.library
            ds = lib.dataset
            start = (
                int(query.get("start", ["0"])[0]) if query.get("start", ["0"])[0].isdigit() else 0
            )
            tensors = []
            for name, tensor in ds.tensors.items():
                stop = min(len(tensor), start + PAGE_SIZE)
                cards = [
                    sample_card(
                        server.base, name, i, lib.sample(name, i).sample_info, lib.mode(name, i)
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

        def _video(self, tensor: str, index: int, head: bool) -> None:
            playable = server.library.playable(tensor, index)
            size = playable.size
            wanted = self.headers.get("Range")
            extra = {"Accept-Ranges": "bytes"}
            if wanted is None:
                if head:
                    self._head(size, playable.content_type, extra)
                else:
                    self._reply(200, playable.read(0, size), playable.content_type, head, extra)
                return
            span = _parse_range(wanted, size)
            if span is None:
                self._reply(
                    416, b"", "text/plain", head, {**extra, "Content-Range": f"bytes */{size}"}
                )
                return
            start, end = span
            extra["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
            if head:
                self._head(end - start, playable.content_type, extra, status=206)
                return
            self._reply(206, playable.read(start, end), playable.content_type, head, extra)

        def _head(
            self, length: int, content_type: str, extra: dict[str, str], status: int = 200
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(length))
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            server.requests.append(
                (self.command, self._route_for_log(), self.headers.get("Range"), status)
            )

    return Handler


def _sample_ref(tensor: str, index: str) -> tuple[str, int]:
    if not TENSOR_NAME_RE.fullmatch(tensor) or not index.isdigit() or len(index) > 12:
        raise LookupError(f"{tensor}/{index}")
    return tensor, int(index)


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``[start, end)`` of a single ``bytes=a-b`` range, or None if unsatisfiable."""
    m = _RANGE_RE.fullmatch(header.strip())
    if m is None or size == 0 or (not m.group(1) and not m.group(2)):
        return None
    if not m.group(1):  # suffix: the last n bytes
        n = int(m.group(2))
        return (max(0, size - n), size) if n > 0 else None
    start = int(m.group(1))
    end = min(int(m.group(2)) + 1, size) if m.group(2) else size
    return (start, end) if start < size and start < end else None
