"""Fetching source videos from URLs (http(s), s3, gcs) to a local spool file."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubcli.errors import CredentialsError, SourceNotFoundError, StorageError
from hubcli.redaction import clean_cause, redact_url
from hubcli.storage.backends import CREDS_HINTS, RemoteLocation, filesystem, parse_remote
from hubcli.storage.transient import failure_detail, with_retries

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping


@dataclass(frozen=True)
class Spooled:
    """A remote object copied to a local temp file."""

    path: str
    size: int


def is_url(text: str) -> bool:
    return parse_remote(text) is not None


@contextmanager
def spool(
    url: str, creds: Mapping[str, Any] | None, progress: Callable[[int], None] | None = None
) -> Iterator[Spooled]:
    """Download ``url`` to a temp file, streaming (constant memory); removed on exit."""
    location = parse_remote(url)
    if location is None:
        raise SourceNotFoundError(
            f"{redact_url(url)}: not a URL hubcli can read", hint="use http(s)://, s3:// or gcs://"
        )
    fs = filesystem(location.kind, creds)
    shown = redact_url(url)
    fd, name = tempfile.mkstemp(prefix="hubcli-source-", suffix=".partial")
    os.close(fd)
    try:
        _download(fs, location, name, shown, progress)
        yield Spooled(name, os.path.getsize(name))
    finally:
        Path(name).unlink(missing_ok=True)  # some backends delete it themselves on failure


def _download(
    fs: Any, location: RemoteLocation, dest: str, shown: str, progress: Callable[[int], None] | None
) -> None:
    def attempt() -> None:
        fs.get_file(location.path, dest, callback=_callback(progress))

    try:
        with_retries(attempt, f"download {shown}")
    except FileNotFoundError:
        raise SourceNotFoundError(f"{shown}: no such object", hint="check the URL") from None
    except IsADirectoryError:
        raise SourceNotFoundError(f"{shown}: is a folder, not a video") from None
    except (StorageError, CredentialsError):
        raise
    except Exception as exc:
        raise _translate(exc, location, shown) from clean_cause(exc)


def _translate(exc: Exception, location: RemoteLocation, shown: str) -> Exception:
    status = getattr(exc, "status", None) or getattr(exc, "code", None)
    names = {c.__name__ for c in type(exc).__mro__}
    hint = CREDS_HINTS.get(location.kind)
    if status == 404:
        return SourceNotFoundError(f"{shown}: no such object", hint="check the URL")
    if isinstance(exc, PermissionError) or status in (401, 403) or "Forbidden" in str(exc):
        return CredentialsError(f"access denied to {shown}", hint=hint)
    if names & {"NoCredentialsError", "PartialCredentialsError", "DefaultCredentialsError"}:
        return CredentialsError(f"no usable credentials for {shown}", hint=hint)
    return StorageError(f"cannot download {shown}: {failure_detail(exc) or type(exc).__name__}")


def _callback(progress: Callable[[int], None] | None) -> Any:
    """An fsspec callback forwarding byte counts to ``progress`` (fsspec's callbacks
    module is imported here, when a URL is fetched: it is slow to import)."""
    from fsspec.callbacks import Callback

    class Forward(Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self._seen = 0

        def call(self, *args: Any, **kwargs: Any) -> None:
            if progress is not None and self.value > self._seen:
                progress(self.value - self._seen)
            self._seen = self.value

    return Forward()
