"""One translation of backend failures into hubcli errors, for every backend.

Local files, S3 (s3fs/botocore), GCS (gcsfs/google-auth), HTTP (fsspec/aiohttp) and
Google Drive links all fail through :func:`translate`, so they agree on what a failure
means:

========================================  ===========================================
the backend says                           hubcli raises
========================================  ===========================================
no usable credentials (no keys, an         :class:`~hubcli.errors.CredentialsError`
expired or unreadable token)               "no usable credentials for WHERE"
refused credentials (401, 403, EACCES)     :class:`~hubcli.errors.CredentialsError`
                                           "access denied to WHERE"
no such object (404, ENOENT), a folder     the caller's ``missing`` error: a store's
                                           ``FileNotFoundError``, a source's or link's
                                           :class:`~hubcli.errors.SourceNotFoundError`
already exists (a lost create race)        ``FileExistsError``
anything else (5xx after retries,          :class:`~hubcli.errors.StorageError`
timeouts, an unreachable server)           "cannot ACTION WHERE: REASON"
========================================  ===========================================

A message never quotes the library's own text: S3 and Google errors quote access key
ids, token details and signed URLs, which no redaction can recognise reliably. REASON
is said in our words from what the exception *is* (its class, HTTP status, S3 error
code, errno, or a timeout). The library's exception is chained as the cause only when
its text holds nothing secret-looking (:func:`hubcli.redaction.clean_cause`), and never
for a credential error.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from hubcli.errors import CredentialsError, StorageError
from hubcli.redaction import clean_cause
from hubcli.storage.credentials import CREDS_HINTS
from hubcli.storage.transient import (
    CONNECT_TIMEOUT_ENV,
    READ_TIMEOUT_ENV,
    chain,
    error_code,
    is_timeout,
    is_transient,
    status_of,
)

#: Exceptions that say no credentials could be found or used (botocore, google-auth,
#: gcsfs). Recognised by name: this module imports no backend.
NO_CREDENTIALS = frozenset(
    {
        "NoCredentialsError",
        "PartialCredentialsError",
        "DefaultCredentialsError",
        "RefreshError",
        "TransportError",
        "NoAuthTokenError",
    }
)
#: S3 error codes that mean "no such object" (s3fs usually says FileNotFoundError).
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "404", "NotFound"})
#: An S3 error code is a word from AWS's list; anything else is not quoted.
_CODE_SHAPE = re.compile(r"[A-Za-z][A-Za-z0-9.]{0,63}")

NO_SUCH_OBJECT = "no such object"
A_FOLDER = "is a folder, not a video"

#: Makes the error for a missing object from what is wrong (NO_SUCH_OBJECT, A_FOLDER).
Missing = Callable[[str], Exception]


def translate(
    exc: BaseException, *, action: str, where: str, kind: str, missing: Missing
) -> Exception:
    """Our error for ``exc``, raised by backend ``kind`` (s3, gcs, http, gdrive, local)
    while it tried to ``action`` (read, write, stat, list, download...) ``where`` (a
    URL or path, already redacted). Raise it ``from`` :func:`cause_of` ``(exc)``."""
    hint = CREDS_HINTS.get(kind)
    if _names(exc) & NO_CREDENTIALS:
        return CredentialsError(f"no usable credentials for {where}", hint=hint)
    if isinstance(exc, IsADirectoryError):
        return missing(A_FOLDER)
    if isinstance(exc, FileNotFoundError) or _not_found(exc):
        # fsspec's HTTP backend reports any failed metadata request as "not found": an
        # unreachable server, and a refusal too.
        cause = exc.__cause__ or exc.__context__
        if cause is not None and _denied(cause):
            return CredentialsError(f"access denied to {where}", hint=hint)
        if cause is not None and is_transient(cause):
            return StorageError(f"cannot {action} {where}: {reason(cause)}")
        return missing(NO_SUCH_OBJECT)
    if isinstance(exc, FileExistsError):
        return FileExistsError(where)
    if _denied(exc):
        return CredentialsError(f"access denied to {where}", hint=hint)
    return StorageError(f"cannot {action} {where}: {reason(exc)}")


def cause_of(exc: BaseException, translated: Exception) -> BaseException | None:
    """What ``translated`` may be chained to: ``exc`` for a failure we could only
    summarise, unless the library's text looks secret (a traceback prints the chain);
    nothing for a credential error or a missing object, which say all there is."""
    if isinstance(translated, StorageError) and not isinstance(translated, CredentialsError):
        return clean_cause(exc)
    return None


def reason(exc: BaseException) -> str:
    """Why ``exc`` failed, in our words: a timeout names the limits to raise; otherwise
    the exception's class with its HTTP status, S3 error code or errno."""
    if is_timeout(exc):
        return (
            f"the server did not answer in time (to wait longer, set {CONNECT_TIMEOUT_ENV} "
            f"or {READ_TIMEOUT_ENV}, in seconds)"
        )
    details = [d for d in (_code(exc), _status(exc)) if d]
    if not details and is_transient(exc):  # no answer at all: refused, reset, dropped
        return f"the server cannot be reached ({type(exc).__name__})"
    details = details or [d for d in (_errno(exc),) if d]
    return f"{type(exc).__name__}: {', '.join(details)}" if details else type(exc).__name__


def _names(exc: BaseException) -> set[str]:
    return {c.__name__ for e in chain(exc) for c in type(e).__mro__}


def _not_found(exc: BaseException) -> bool:
    return any(status_of(e) == 404 or error_code(e) in _NOT_FOUND_CODES for e in chain(exc))


def _denied(exc: BaseException) -> bool:
    for e in chain(exc):
        if isinstance(e, PermissionError) or status_of(e) in (401, 403):
            return True
        if "Forbidden" in str(e) or error_code(e) in ("AccessDenied", "InvalidAccessKeyId"):
            return True
    return False


def _code(exc: BaseException) -> str | None:
    code = next((c for e in chain(exc) if (c := error_code(e))), None)
    return code if code and _CODE_SHAPE.fullmatch(code) else None


def _status(exc: BaseException) -> str | None:
    status = next((s for e in chain(exc) if (s := status_of(e))), None)
    return f"HTTP {status}" if status else None


def _errno(exc: BaseException) -> str | None:
    number = next((e.errno for e in chain(exc) if isinstance(e, OSError) and e.errno), None)
    return os.strerror(number) if number else None
