"""Sources named by URL (http(s), s3, gcs), and the one spooler: an object copied to a
local temp file, streaming, for indexing at append time (sources and links alike)."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubcli.errors import SourceNotFoundError
from hubcli.redaction import redact_url
from hubcli.storage.backends import filesystem
from hubcli.storage.credentials import Credentials, backend_options
from hubcli.storage.remote import ObjectStore
from hubcli.storage.urls import is_url, parse_remote

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from hubcli.storage.remote import FsspecStore

__all__ = ["Spooled", "is_url", "open_source", "spool", "spool_object"]


@dataclass(frozen=True)
class Spooled:
    """A remote object copied to a local temp file."""

    path: str
    size: int


def open_source(url: str, creds: Credentials | Mapping[str, Any] | None) -> ObjectStore:
    """The object at ``url`` (http(s)://, s3://, gcs://) read with ``creds``: a creds
    key's value, a caller's backend options, or None (the environment's)."""
    location = parse_remote(url)
    if location is None:
        raise SourceNotFoundError(
            f"{redact_url(url)}: not a URL hubcli can read", hint="use http(s)://, s3:// or gcs://"
        )
    fs = filesystem(location.kind, backend_options(location.kind, creds))
    return ObjectStore(fs, {"": location.path}, redact_url(url), location.kind, "check the URL")


@contextmanager
def spool(
    url: str,
    creds: Credentials | Mapping[str, Any] | None,
    progress: Callable[[int], None] | None = None,
) -> Iterator[Spooled]:
    """Download ``url`` to a temp file, streaming (constant memory); removed on exit."""
    with spool_object(open_source(url, creds), "", progress) as spooled:
        yield spooled


@contextmanager
def spool_object(
    store: FsspecStore, key: str, progress: Callable[[int], None] | None = None
) -> Iterator[Spooled]:
    """The value of ``key`` in a temp file (``progress`` gets byte counts as it comes);
    the file is removed on exit."""
    fd, name = tempfile.mkstemp(prefix="hubcli-source-", suffix=".partial")
    os.close(fd)
    try:
        store.download(key, name, _callback(progress))
        yield Spooled(name, os.path.getsize(name))
    finally:
        Path(name).unlink(missing_ok=True)  # some backends delete it themselves on failure


def _callback(progress: Callable[[int], None] | None) -> Any:
    """An fsspec callback forwarding byte counts to ``progress`` (fsspec's callbacks
    module is imported here, when a URL is fetched: it is slow to import)."""
    if progress is None:
        return None
    from fsspec.callbacks import Callback

    forward = progress

    class Forward(Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self._seen = 0

        def call(self, *args: Any, **kwargs: Any) -> None:
            if self.value > self._seen:
                forward(self.value - self._seen)
            self._seen = self.value

    return Forward()
