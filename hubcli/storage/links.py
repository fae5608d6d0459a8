"""Linked objects: videos a dataset points at, read in place with ranged reads.

A remote link (``http(s)://``, ``s3://``, ``gcs://``/``gs://``, Google Drive) is read
through an :class:`~hubcli.storage.remote.ObjectStore`: retries, batched ranged reads
and error translation are the stores'. What is link-specific stays here: the object's
identity (size plus ETag, generation or time), Drive's API URLs and token
(storage/urls.py, storage/credentials.py), the fallback for servers that ignore Range,
and the checks on linked local files (a hostile dataset may link a FIFO or a device).
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import warnings
import weakref
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hubcli.errors import (
    CredentialsError,
    HubcliWarning,
    InvalidSampleError,
    LinkChangedError,
    SourceNotFoundError,
    StorageError,
)
from hubcli.redaction import redact_url
from hubcli.storage.backends import filesystem
from hubcli.storage.credentials import CREDS_HINTS, Credentials
from hubcli.storage.errors import cause_of, translate
from hubcli.storage.fetch import spool_object
from hubcli.storage.remote import ObjectStore
from hubcli.storage.urls import drive_api_url, drive_file_id, link_kind, parse_remote

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = ["Identity", "LinkedObject", "link_kind", "open_linked"]

#: The request of an ObjectStore for the object's bytes, and Drive's for its metadata.
_OBJECT, _DRIVE_META = "", "meta"
_LINK_HINT = "check the link's URL"


@dataclass(frozen=True)
class Identity:
    """What says "the same object": size plus the store's version tag, if it has one."""

    size: int
    etag: str | None = None
    modified: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "etag": self.etag, "modified": self.modified}

    def same_as(self, other: Identity) -> bool:
        if self.size != other.size:
            return False
        if self.etag or other.etag:
            return self.etag == other.etag
        return self.modified == other.modified


class LinkedObject(ABC):
    """One linked video, read in place: ``kind`` is local, http, s3, gcs or gdrive;
    ``shown`` is its URL as messages say it (redacted)."""

    def __init__(self, url: str, kind: str) -> None:
        self.url = url
        self.kind = kind
        self.shown = redact_url(url)

    def __repr__(self) -> str:  # never the secrets
        return f"LinkedObject({self.shown!r})"

    @abstractmethod
    def identity(self) -> Identity:
        """Size and version tag, from one metadata request (or a stat)."""

    @abstractmethod
    def read_ranges(self, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        """Exact byte ranges of the object."""

    @abstractmethod
    def spool(self) -> Any:
        """A context manager giving the whole object as a local file's path (for
        indexing at append time)."""


def open_linked(url: str, creds: Credentials) -> LinkedObject:
    """The linked object at ``url`` (a URL or a local path), read with ``creds``."""
    kind = link_kind(url)
    if kind == "local":
        return LocalObject(url)
    return RemoteObject(url, kind, creds)


class LocalObject(LinkedObject):
    """A linked local file. Reads refuse another file put at the same path after its
    identity was checked (format_spec/links.md §5)."""

    def __init__(self, path: str) -> None:
        super().__init__(path, "local")
        self._pin: tuple[int, int] | None = None  # (device, inode) when checked

    def _open(self) -> tuple[int, os.stat_result]:
        """The file, opened without blocking on a FIFO and checked to be a regular file."""
        try:
            fd = os.open(self.url, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            error = translate(
                exc, action="read", where=self.shown, kind="local", missing=self._missing
            )
            raise error from cause_of(exc, error)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise InvalidSampleError(f"{self.shown}: not a regular file", hint="link a video file")
        return fd, st

    def _missing(self, problem: str) -> Exception:
        return SourceNotFoundError(f"{self.shown}: no such file", hint="check the link's path")

    def identity(self) -> Identity:
        fd, st = self._open()
        os.close(fd)
        self._pin = (st.st_dev, st.st_ino)
        return Identity(st.st_size, None, str(st.st_mtime_ns))

    def read_ranges(self, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        fd, st = self._open()
        try:
            if self._pin is not None and (st.st_dev, st.st_ino) != self._pin:
                raise LinkChangedError(
                    f"{self.shown}: the file was replaced since it was checked",
                    hint="read it again",
                )
            return [os.pread(fd, max(0, min(b, st.st_size) - a), a) for a, b in ranges]
        finally:
            os.close(fd)

    @contextmanager
    def spool(self) -> Iterator[str]:
        yield self.url


class RemoteObject(LinkedObject):
    """A linked object behind a URL, read through an ObjectStore."""

    def __init__(self, url: str, kind: str, creds: Credentials) -> None:
        super().__init__(url, kind)
        self._creds = creds
        self._store: ObjectStore | None = None
        self._whole: Any = None  # a temp file with the object, if its server ignores Range
        # Object stores honour Range; whether an http(s) or Drive server does is learnt
        # from the first read.
        self._ranges_honoured = kind in ("s3", "gcs")

    @property
    def store(self) -> ObjectStore:
        if self._store is None:
            self._store = self._open_store()
        return self._store

    def _open_store(self) -> ObjectStore:
        if self.kind == "gdrive":
            token = self._creds.drive_token()
            if not token:
                raise CredentialsError(
                    f"{self.shown}: Google Drive needs an OAuth token", hint=CREDS_HINTS["gdrive"]
                )
            file_id = drive_file_id(self.url)
            assert file_id is not None  # link_kind said gdrive
            paths = {
                _OBJECT: drive_api_url(file_id, "alt=media"),
                _DRIVE_META: drive_api_url(file_id, "fields=size,md5Checksum,modifiedTime"),
            }
            fs = filesystem("http", {"headers": {"Authorization": f"Bearer {token}"}})
            return ObjectStore(fs, paths, self.shown, self.kind, _LINK_HINT)
        location = parse_remote(self.url)
        assert location is not None  # link_kind said s3, gcs or http
        fs = filesystem(self.kind, self._creds.options(self.kind))
        return ObjectStore(fs, {_OBJECT: location.path}, self.shown, self.kind, _LINK_HINT)

    def identity(self) -> Identity:
        if self.kind == "gdrive":
            return self._drive_identity()
        info = self.store.info(_OBJECT)
        if info.get("type") == "directory":
            raise SourceNotFoundError(f"{self.shown}: is a folder, not a video")
        if info.get("size") is None:
            raise StorageError(
                f"{self.shown}: the server does not say the object's size",
                hint="serve it with a Content-Length",
            )
        # GCS: the generation changes exactly when the bytes do (its etag also changes on
        # metadata updates); S3 and HTTP: the ETag, kept as sent.
        etag = info.get("generation") or info.get("ETag") or info.get("etag") or info.get("md5Hash")
        modified = (
            info.get("LastModified")
            or info.get("Last-Modified")
            or info.get("updated")
            or info.get("mtime")
        )
        return Identity(
            int(info["size"]),
            None if etag is None else str(etag),
            None if modified is None else str(modified),
        )

    def _drive_identity(self) -> Identity:
        raw = self.store.get(_DRIVE_META)
        try:
            meta = json.loads(raw)
            return Identity(int(meta["size"]), meta.get("md5Checksum"), meta.get("modifiedTime"))
        except (ValueError, KeyError, TypeError):
            raise StorageError(
                f"{self.shown}: the Drive API answered without a file size"
            ) from None

    def read_ranges(self, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        """Exact byte ranges. A server that ignores Range is detected (it sends more
        than asked): the whole object is then kept for this object's later reads."""
        if self._whole is not None:
            return _read_file(self._whole, ranges)
        if not ranges or self._ranges_honoured:
            return self.store.get_ranges(_OBJECT, ranges)
        (a, b), rest = ranges[0], ranges[1:]
        first = self.store.get_range(_OBJECT, a, b)
        if len(first) > b - a:  # the server sent the whole object: no Range support
            warnings.warn(
                f"{self.shown}: the server ignores Range requests; reading the whole object",
                HubcliWarning,
                stacklevel=2,
            )
            # Kept in a temp file (deleted with this object), not in memory.
            self._whole = tempfile.TemporaryFile()  # noqa: SIM115
            weakref.finalize(self, self._whole.close)
            self._whole.write(first)
            return _read_file(self._whole, ranges)
        self._ranges_honoured = True
        return [first, *self.store.get_ranges(_OBJECT, rest)]

    @contextmanager
    def spool(self) -> Iterator[str]:
        with spool_object(self.store, _OBJECT) as spooled:
            yield spooled.path


def _read_file(f: Any, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    out = []
    for a, b in ranges:
        f.seek(a)
        out.append(f.read(b - a))
    return out
