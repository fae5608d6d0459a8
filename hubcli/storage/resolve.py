"""From a dataset path or URL (and credentials) to the Store that holds it."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from hubcli.errors import StorageError
from hubcli.storage.local import LocalStore
from hubcli.storage.memory import MemoryStore

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
    """The store for ``path``: a local folder, ``file://``, or ``memory://name``."""
    scheme, rest = split_scheme(os.fspath(path))
    if scheme in ("", "file"):
        return LocalStore(rest)
    if scheme == "memory":
        with _MEMORY_LOCK:
            return _MEMORY_STORES.setdefault(rest, MemoryStore(f"memory://{rest}"))
    raise StorageError(
        f"unsupported dataset location {os.fspath(path)!r}",
        hint="use a local path (remote s3:// and gcs:// datasets are not supported yet)",
    )
