"""Which failures of a remote store are worth retrying, and the retry loop itself.

Retried: HTTP 5xx, 408 and 429, throttling, connection resets and refusals, timeouts.
Never retried: missing keys, lost create-if-absent races, refused credentials, bad
requests: those say something true about the world that a second try cannot change.
Backends are recognised by attribute and class name, so this module imports none.

Every request has a connect and a read timeout (:class:`Timeouts`, from
``HUBCLI_CONNECT_TIMEOUT`` and ``HUBCLI_READ_TIMEOUT``), and an operation whose attempts
time out gives up after TIMEOUT_ATTEMPTS of them: a dead server is reported within
:func:`worst_case_seconds`, 30 s or less with the defaults.
"""

from __future__ import annotations

import errno
import logging
import os
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from hubcli.errors import StorageError
from hubcli.redaction import redact

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")
log = logging.getLogger("hubcli.storage")

#: Attempts per operation and the first delay; each retry waits about twice as long.
ATTEMPTS = 5
FIRST_DELAY = 0.1
#: Attempts that may time out per operation: each costs a whole timeout, and a server
#: silent for that long rarely answers the next time.
TIMEOUT_ATTEMPTS = 2
#: The most a retry's delay is stretched by jitter.
_JITTER = 1.5

CONNECT_TIMEOUT_ENV = "HUBCLI_CONNECT_TIMEOUT"
READ_TIMEOUT_ENV = "HUBCLI_READ_TIMEOUT"


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait for a connection, and for each read of an answer (the wait for
    the next bytes, not for the whole body: a long download is not cut short)."""

    connect: float = 5.0
    read: float = 8.0

    @classmethod
    def from_env(cls) -> Timeouts:
        """The defaults, or what HUBCLI_CONNECT_TIMEOUT / HUBCLI_READ_TIMEOUT say."""
        return cls(_seconds(CONNECT_TIMEOUT_ENV, cls.connect), _seconds(READ_TIMEOUT_ENV, cls.read))


def _seconds(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 86400:
        raise StorageError(
            f"{name}={text!r} is not a timeout", hint="give a number of seconds, e.g. 10"
        )
    return value


def worst_case_seconds(timeouts: Timeouts) -> float:
    """How long one operation can wait on a server that never answers: its attempts
    that time out, plus every retry delay at its longest."""
    delays = sum(FIRST_DELAY * (1 << k) * _JITTER for k in range(ATTEMPTS - 1))
    return TIMEOUT_ATTEMPTS * (timeouts.connect + timeouts.read) + delays


_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}
_TRANSIENT_CODES = {
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "Throttling",
    "ThrottlingException",
    "RequestTimeTooSkewed",
    "500",
    "502",
    "503",
    "504",
}
_TRANSIENT_CLASSES = {
    "HTTPClientError",
    "EndpointConnectionError",
    "ConnectionClosedError",
    "ReadTimeoutError",
    "ConnectTimeoutError",
    "ClientConnectionError",
    "ServerDisconnectedError",
    "ClientPayloadError",
    "ClientOSError",
    "ServerTimeoutError",
    "IncompleteRead",
    "ChunkedEncodingError",
    "ProxyError",
    "FSTimeoutError",
}
_TRANSIENT_ERRNOS = {
    errno.ECONNRESET,
    errno.ECONNREFUSED,
    errno.ECONNABORTED,
    errno.EPIPE,
    errno.ETIMEDOUT,
    errno.EIO,
}
_PERMANENT = (
    FileNotFoundError,
    FileExistsError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
    ValueError,
    TypeError,
    KeyError,
)


def is_transient(exc: BaseException) -> bool:
    """True for a failure that a later attempt may not meet."""
    for e in chain(exc):
        if isinstance(e, _PERMANENT):
            return False
        if isinstance(e, (ConnectionError, TimeoutError)):
            return True
        if {c.__name__ for c in type(e).__mro__} & _TRANSIENT_CLASSES:
            return True
        if status_of(e) in _TRANSIENT_STATUS or error_code(e) in _TRANSIENT_CODES:
            return True
        if isinstance(e, OSError) and e.errno in _TRANSIENT_ERRNOS:
            return True
    return False


def is_timeout(exc: BaseException) -> bool:
    """True if ``exc`` (or what it wraps) is a connect or read timeout."""
    return any(isinstance(e, TimeoutError) or "Timeout" in type(e).__name__ for e in chain(exc))


def chain(exc: BaseException) -> list[BaseException]:
    """The exception and its causes (libraries wrap the interesting one)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 8:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def status_of(exc: BaseException) -> int | None:
    """The HTTP status a backend's exception carries (aiohttp, gcsfs, botocore), if any."""
    for name in ("status", "code", "status_code"):
        value = getattr(exc, name, None)
        if isinstance(value, int):
            return value
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        value = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return value if isinstance(value, int) else None
    return None


def error_code(exc: BaseException) -> str | None:
    """The S3 error code of a botocore ``ClientError`` (``NoSuchKey``, ``SlowDown``...)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def with_retries(operation: Callable[[], T], what: str) -> T:
    """Run ``operation``; on a transient failure wait (exponential backoff with jitter)
    and run it again, up to ATTEMPTS times (TIMEOUT_ATTEMPTS timeouts). The last
    failure propagates."""
    timeouts = 0
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return operation()
        except Exception as exc:
            timeouts += is_timeout(exc)
            if attempt == ATTEMPTS or timeouts >= TIMEOUT_ATTEMPTS or not is_transient(exc):
                raise
            delay = FIRST_DELAY * 2 ** (attempt - 1) * random.uniform(0.5, _JITTER)
            # The library's text quotes the whole URL, signature and all.
            log.debug(
                "%s failed (%s: %s); retry %d in %.2fs",
                what,
                type(exc).__name__,
                redact(str(exc)),
                attempt,
                delay,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")
