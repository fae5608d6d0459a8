"""Which failures of a remote store are worth retrying, and the retry loop itself.

Retried: HTTP 5xx, 408 and 429, throttling, connection resets and refusals, timeouts.
Never retried: missing keys, lost create-if-absent races, refused credentials, bad
requests: those say something true about the world that a second try cannot change.
Backends are recognised by attribute and class name, so this module imports none.
"""

from __future__ import annotations

import errno
import logging
import random
import time
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")
log = logging.getLogger("hubcli.storage")

#: Attempts per operation and the first delay; each retry waits about twice as long.
ATTEMPTS = 5
FIRST_DELAY = 0.1

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
    for e in _chain(exc):
        if isinstance(e, _PERMANENT):
            return False
        if isinstance(e, (ConnectionError, TimeoutError)):
            return True
        if {c.__name__ for c in type(e).__mro__} & _TRANSIENT_CLASSES:
            return True
        if _status(e) in _TRANSIENT_STATUS or _code(e) in _TRANSIENT_CODES:
            return True
        if isinstance(e, OSError) and e.errno in _TRANSIENT_ERRNOS:
            return True
    return False


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and its causes (libraries wrap the interesting one)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 8:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _status(exc: BaseException) -> int | None:
    for name in ("status", "code", "status_code"):
        value = getattr(exc, name, None)
        if isinstance(value, int):
            return value
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        value = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return value if isinstance(value, int) else None
    return None


def _code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def with_retries(operation: Callable[[], T], what: str) -> T:
    """Run ``operation``; on a transient failure wait (exponential backoff with jitter)
    and run it again, up to ATTEMPTS times. The last failure propagates."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return operation()
        except Exception as exc:
            if attempt == ATTEMPTS or not is_transient(exc):
                raise
            delay = FIRST_DELAY * 2 ** (attempt - 1) * (0.5 + random.random())
            log.debug(
                "%s failed (%s: %s); retry %d in %.2fs",
                what,
                type(exc).__name__,
                exc,
                attempt,
                delay,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")
