"""A counting, fault-injecting reverse proxy on loopback, in front of a test server.

Bytes are counted here, at the server side, as they leave: what a client was sent,
never what a library inside the client says it read. An answer is streamed, so a
client that hangs up early (FFmpeg after a seek) is charged for what left before it
closed, including what the socket buffers took.
"""

from __future__ import annotations

import http.client
import http.server
import socket
import socketserver
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Callable

#: Headers that belong to one connection, not to the answer: never relayed.
HOP_BY_HOP = frozenset({"transfer-encoding", "connection", "content-length"})
#: How much of an answer is relayed at a time (and so counted at a time).
CHUNK = 1 << 16
#: The body of an injected HTTP error, in S3's shape so that clients parse it.
FAULT_BODY = b"<Error><Code>InternalError</Code><Message>injected</Message></Error>"


@dataclass
class Exchange:
    """One request as the proxy answered it."""

    method: str
    path: str
    range: str | None  # the request's Range header
    status: int  # HTTP status; 0: dropped unanswered; -1: forwarded, answer lost
    sent: int = 0  # response body bytes sent so far
    signed: bool = False  # the request carried an Authorization header


@dataclass
class Fault:
    """Fail the requests ``match`` accepts, ``times`` times: answer HTTP ``status``; or
    reset the connection without an answer (``status=0``); or forward the request and
    then reset the connection, losing the answer (``status=-1``: the write happened,
    the client cannot know)."""

    match: Callable[[str, str], bool]  # (method, path) -> whether to fail it
    times: int
    status: int = 500


class Proxy:
    """A reverse proxy on loopback that forwards to ``target``, records every exchange in
    ``log`` (in the order their answers began) and injects the ``faults`` listed."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.log: list[Exchange] = []
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self.httpd = _Server(self)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def reset(self) -> None:
        """Forget the exchanges so far and every fault."""
        with self.lock:
            self.log.clear()
            self.faults.clear()

    def take(self, settle: float = 0.05) -> list[Exchange]:
        """The exchanges since the last ``take()`` or ``reset()``, emptying the log. It
        waits ``settle`` seconds first so that the last chunks of an answer the client
        hung up on are counted in this phase, not the next."""
        time.sleep(settle)
        with self.lock:
            taken = list(self.log)
            self.log.clear()
        return taken

    def requests(self, method: str | None = None, contains: str = "") -> list[Exchange]:
        """The exchanges of ``method`` (any if None) whose path contains ``contains``."""
        return [
            e for e in self.log if (method is None or e.method == method) and contains in e.path
        ]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def next_fault(self, method: str, path: str) -> Fault | None:
        """The first fault that accepts this request, with one use taken from it."""
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.match(method, path):
                    fault.times -= 1
                    return fault
        return None

    def record(self, exchange: Exchange) -> None:
        with self.lock:
            self.log.append(exchange)

    def count(self, exchange: Exchange, sent: int) -> None:
        with self.lock:
            exchange.sent += sent


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass  # the test output stays readable

    @property
    def proxy(self) -> Proxy:
        return cast("_Server", self.server).proxy

    def forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fault = self.proxy.next_fault(self.command, self.path)
        if fault is not None and fault.status >= 0:
            self._answer_fault(fault.status)
            return
        target = urlsplit(self.proxy.target)
        conn = http.client.HTTPConnection(target.hostname or "", target.port, timeout=120)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            exchange = self._exchange(response.status if fault is None else -1)
            self.proxy.record(exchange)
            if fault is not None:  # the write happened upstream; its answer is lost
                response.read()
                self._drop()
                return
            self._relay(response, exchange)
        finally:
            conn.close()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = forward

    def _exchange(self, status: int) -> Exchange:
        signed = "Authorization" in self.headers
        return Exchange(self.command, self.path, self.headers.get("Range"), status, 0, signed)

    def _answer_fault(self, status: int) -> None:
        self.proxy.record(self._exchange(status))
        if status == 0:
            self._drop()
            return
        self.send_response(status)
        self.send_header("Content-Length", str(len(FAULT_BODY)))
        self.end_headers()
        self.wfile.write(FAULT_BODY)

    def _drop(self) -> None:
        """Reset the connection without an answer."""
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _relay(self, response: http.client.HTTPResponse, exchange: Exchange) -> None:
        length = response.getheader("Content-Length")
        # An answer without a length (a chunked listing) is small: read it whole and
        # send it with its length, so the client can keep the connection.
        whole = response.read() if length is None and self.command != "HEAD" else None
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        # A HEAD answer has no body but keeps the object's length.
        self.send_header("Content-Length", length or str(len(whole or b"")))
        self.end_headers()
        if self.command == "HEAD":
            return
        try:
            self._stream(response, exchange, whole)
        except OSError:  # the client hung up: what left so far is counted
            self.close_connection = True

    def _stream(
        self, response: http.client.HTTPResponse, exchange: Exchange, whole: bytes | None
    ) -> None:
        chunks = iter(lambda: response.read(CHUNK), b"") if whole is None else iter([whole])
        for chunk in chunks:
            # Counted before the write: whoever reads the log once the client has its
            # bytes sees them counted. A write that fails did not leave: uncounted.
            self.proxy.count(exchange, len(chunk))
            try:
                self.wfile.write(chunk)
            except OSError:
                self.proxy.count(exchange, -len(chunk))
                raise
