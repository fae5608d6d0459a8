"""Reading the parts of a request the playback server acts on: path segments, the query,
``Range`` and ``Host``. Everything here is hostile input: only ASCII, numbers of bounded
length (``int()`` refuses over 4,300 digits with a ValueError), and one answer per
malformed part (``Refused``) instead of an exception that kills the connection."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import parse_qs, unquote

from hubcli.format.manifest import TENSOR_NAME_RE

#: Digits of a sample index in a URL (no dataset has 10^12 samples).
INDEX_DIGITS = 12
#: Digits of a Range number (10^18 bytes fits an int64 and any real object).
RANGE_DIGITS = 18
_DIGITS_RE = re.compile(r"[0-9]+")
_LONG_NUMBER_RE = re.compile(rf"[0-9]{{{RANGE_DIGITS + 1},}}")
_SPEC_RE = re.compile(r"([0-9]*)[ \t]*-[ \t]*([0-9]*)")


class Refused(Exception):
    """A request answered with ``status`` and a one-line ``reason``, and nothing else."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or {}


def segments(path: str) -> list[str]:
    """The decoded segments of a URL path after its leading '/'. Each is decoded once, so
    an encoded '/' or '..' stays inside a segment and matches no route."""
    if not path.isascii():
        raise Refused(400, "the path must be ASCII")
    parts = [unquote(s) for s in path.split("/")[1:]]
    if not all(p.isascii() for p in parts):
        raise Refused(400, "the path must be ASCII")
    return parts


def page_start(query: str) -> int:
    """The dataset page's ``start`` (0 when absent)."""
    fields = parse_qs(query, keep_blank_values=True)
    if not all(v.isascii() for values in fields.values() for v in values):
        raise Refused(400, "the query must be ASCII")
    value = fields.get("start", ["0"])[0]
    if not _DIGITS_RE.fullmatch(value) or len(value) > INDEX_DIGITS:
        raise Refused(400, "start must be a sample number")
    return int(value)


def sample_ref(tensor: str, index: str) -> tuple[str, int]:
    """A ``TENSOR/INDEX`` route; LookupError (404) if it names no sample."""
    if _DIGITS_RE.fullmatch(index) and len(index) > INDEX_DIGITS:
        raise Refused(400, "the sample number is too long")
    if not TENSOR_NAME_RE.fullmatch(tensor) or not _DIGITS_RE.fullmatch(index):
        raise LookupError(f"{tensor}/{index}")
    return tensor, int(index)


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``[start, end)`` to answer with 206, or None to send the whole body with 200: no
    Range, several ranges, another unit or a malformed one (RFC 9110 §14.2 lets a
    server ignore those; a single range is all a video player asks for)."""
    if header is None:
        return None
    if not header.isascii() or _LONG_NUMBER_RE.search(header):
        raise Refused(400, "malformed Range")
    unit, equals, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or not equals or "," in spec:
        return None
    m = _SPEC_RE.fullmatch(spec.strip())
    if m is None or not (m.group(1) or m.group(2)):
        return None
    unsatisfiable = Refused(416, "range not satisfiable", {"Content-Range": f"bytes */{size}"})
    if not m.group(1):  # a suffix: the last n bytes
        n = int(m.group(2))
        if n == 0 or size == 0:
            raise unsatisfiable
        return max(0, size - n), size
    start = int(m.group(1))
    if m.group(2) and int(m.group(2)) < start:
        return None  # invalid: ignored
    if start >= size:
        raise unsatisfiable
    return start, min(int(m.group(2)) + 1, size) if m.group(2) else size


def host_allowed(header: str | None, names: frozenset[str], port: int, any_ip: bool) -> bool:
    """Whether ``Host`` names this server: one of ``names`` (lower case), or with
    ``any_ip`` (a wildcard bind) any IP address, with our port or none. A DNS-rebinding
    page reaches us under its own host name, which is none of these."""
    if header is None:
        return True  # only HTTP/1.0 clients omit it, and browsers never do
    value = header.strip().lower()
    if value.startswith("["):
        host, _, rest = value.partition("]")
        host += "]"
    else:
        host, colon, port_text = value.partition(":")
        rest = colon + port_text
    if rest and rest != f":{port}":
        return False
    return host in names or (any_ip and _is_ip(host))


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return False
    return True
