"""Helpers of the playback-server tests: HTTP requests as a browser (or an attacker)
would send them, and large videos made in seconds."""

from __future__ import annotations

import http.client
import socket
import subprocess
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def get(server, path, headers=None, method="GET"):
    """``(response, body)``; a body the server cut short is returned as far as it came."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    conn.request(method, path, headers=headers or {})
    response = conn.getresponse()
    try:
        body = response.read()
    except http.client.IncompleteRead as cut:
        body = cut.partial
    conn.close()
    return response, body


def raw(port: int, request: bytes, timeout: float = 30) -> bytes:
    """Send ``request`` as bytes (http.client refuses non-ASCII request lines) and read
    the answer until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def status_of(answer: bytes) -> int:
    """The status code of a raw answer (0 if there is no status line: a killed
    connection)."""
    line = answer.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) > 1 and line[0].startswith(b"HTTP/") else 0


def token_of(url: str) -> str:
    return url.split("/")[3]


def can_switch_user() -> bool:
    try:
        done = subprocess.run([*NOBODY, "true"], capture_output=True, timeout=30)
    except OSError:
        return False
    return done.returncode == 0


def make_big_video(path: Path, megabytes: int, width: int = 1920, height: int = 1088) -> Path:
    """An H.264 MP4 of about ``megabytes`` MB in a few seconds: three lossless frames of
    noise (every one a keyframe, ~1.9 bytes a pixel), their packets muxed again and
    again with new timestamps. Every packet is a valid IDR picture, so the file indexes
    and plays like any other."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(
            "libx264", rate=24, options={"preset": "ultrafast", "qp": "0", "keyint": "1"}
        )
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        packets = []
        for k in range(3):
            noise = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(noise, format="rgb24").reformat(format="yuv420p")
            frame.pts = k
            packets += [bytes(p) for p in stream.encode(frame)]
        packets += [bytes(p) for p in stream.encode(None)]
        per_frame = sum(len(p) for p in packets) / len(packets)
        count = max(len(packets), round(megabytes * 1e6 / per_frame))
        for n in range(count):
            packet = av.Packet(packets[n % len(packets)])
            packet.stream, packet.time_base = stream, Fraction(1, 24)
            packet.pts = packet.dts = n
            packet.is_keyframe = True
            out.mux(packet)
    return path


def wait_for(test, timeout: float = 30, what: str = "condition"):
    """Poll ``test`` until it returns something truthy (a readiness wait, not a timing)."""
    deadline = time.monotonic() + timeout
    while not (result := test()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return result
