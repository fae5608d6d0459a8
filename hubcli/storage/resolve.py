"""From a dataset path or URL (and credentials) to the Store that holds it."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from hubcli.errors import StorageError
from hubcli.storage.backends import filesystem
from hubcli.storage.local import LocalStore
from hubcli.storage.memory import MemoryStore
from hubcli.storage.remote import FsspecStore
from hubcli.storage.urls import parse_remote

if TYPE_CHECKING:
    from collections.abc import Mapping

    from hubcli.storage.base import Store

# memory:// datasets live as long as the process, like fsspec's memory filesystem.
_MEMORY_STORES: dict[str, MemoryStore] = {}
_MEMORY_LOCK = threading.Lock()


def split_scheme(path: str) -> tuple[str, str]:
    """``("s3", "bucket/prefix")`` for a URL, ``("", path)`` for a local path."""
    if "://" in path:
        scheme, rest = path.split("://", 1)
        return scheme.lower(), rest
    return "", path


def open_store(path: str | os.PathLike[str], creds: Mapping[str, Any] | None = None) -> Store:
    """The store for ``path``: a local folder, ``file://``, ``memory://name``,
    ``s3://bucket/prefix`` or ``gcs://``/``gs://bucket/prefix``. ``creds`` are the
    store's own credentials (storage/backends.py); None means the environment's."""
    scheme, rest = split_scheme(os.fspath(path))
    if scheme in ("", "file"):
        return LocalStore(rest)
    if scheme == "memory":
        with _MEMORY_LOCK:
            return _MEMORY_STORES.setdefault(rest, MemoryStore(f"memory://{rest}"))
    location = parse_remote(os.fspath(path))
    if location is None or location.kind == "http":
        raise StorageError(
            f"unsupported dataset location {os.fspath(path)!r}",
            hint="use a local path, s3://BUCKET/PREFIX or gcs://BUCKET/PREFIX",
        )
    fs = filesystem(location.kind, creds)
    return FsspecStore(fs, location.path, location.url, location.kind, location.bucket)
