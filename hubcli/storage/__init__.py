"""Bytes by key or by URL: the only layer that touches disks, buckets and networks.

Nothing here knows the format. The modules, by what each owns:

- ``base.py``: the :class:`Store` interface (bytes under keys); ``local.py``,
  ``memory.py``, ``remote.py``: its backends (``remote.py``'s :class:`FsspecStore`
  serves S3 and GCS datasets, and its ``ObjectStore`` one object named by a URL).
- ``resolve.py``: a dataset path or URL to its store.
- ``urls.py``: what a URL names (backend, bucket, path; Google Drive file ids).
- ``credentials.py``: credentials as one value (anonymous, the environment's, or a
  key's secrets) and the one list of the fields each backend takes.
- ``backends.py``: fsspec filesystems built from those options, with timeouts.
- ``transient.py``: which failures are retried, and the retry loop.
- ``errors.py``: the one translation of a backend's failure into our errors.
- ``fetch.py``: sources named by URL, and the spooler (an object to a temp file).
- ``links.py``: linked videos read in place (identity, the no-Range fallback).

Missing keys raise ``FileNotFoundError`` (a source's or link's object:
:class:`hubcli.errors.SourceNotFoundError`), a lost create-if-absent race raises
``FileExistsError`` (fsspec's convention), refused or missing credentials raise
:class:`hubcli.errors.CredentialsError`, and any other failure of the backend raises
:class:`hubcli.errors.StorageError`. No message quotes a backend library's own text.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hubcli.storage.base import Store, check_key
    from hubcli.storage.local import LocalStore
    from hubcli.storage.memory import MemoryStore
    from hubcli.storage.remote import FsspecStore
    from hubcli.storage.resolve import open_store

__all__ = ["FsspecStore", "LocalStore", "MemoryStore", "Store", "check_key", "open_store"]

# Loaded on first use: the credential store (hubcli.creds) needs storage/credentials.py
# alone, and every command's start-up would otherwise pay for the remote stores.
_WHERE = {
    "Store": "base",
    "check_key": "base",
    "LocalStore": "local",
    "MemoryStore": "memory",
    "FsspecStore": "remote",
    "open_store": "resolve",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'hubcli.storage' has no attribute {name!r}")
    return getattr(importlib.import_module(f"hubcli.storage.{_WHERE[name]}"), name)
