"""Linked objects: videos a dataset points at, read in place with ranged reads.

Schemes: local paths, ``http(s)://``, ``s3://``, ``gcs://``/``gs://`` and Google Drive
(``gdrive://FILE_ID`` or a Drive share URL, read through the Drive v3 API
``files/{id}?alt=media`` with a bearer token; the API base comes from
``HUBCLI_GDRIVE_API`` so tests can point it at a local server).
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
import warnings
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubcli.errors import (
    CredentialsError,
    HubcliWarning,
    InvalidSampleError,
    LinkChangedError,
    SourceNotFoundError,
    StorageError,
)
from hubcli.redaction import clean_cause, redact_url
from hubcli.storage.backends import CREDS_HINTS, filesystem, parse_remote
from hubcli.storage.transient import failure_detail, is_timeout, is_transient, with_retries

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence


GDRIVE_API_ENV = "HUBCLI_GDRIVE_API"
GDRIVE_API_DEFAULT = "https://www.googleapis.com/drive/v3"
_DRIVE_ID = r"[A-Za-z0-9_-]{10,}"
_DRIVE_PATTERNS = (
    re.compile(rf"gdrive://(?P<id>{_DRIVE_ID})/?"),
    re.compile(rf"https://drive\.google\.com/file/d/(?P<id>{_DRIVE_ID})(/[^\n]*)?"),
    re.compile(
        rf"https://drive\.google\.com/(open|uc)\?([^\n]*&)?id=(?P<id>{_DRIVE_ID})(&[^\n]*)?"
    ),
)


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


def drive_file_id(url: str) -> str | None:
    for pattern in _DRIVE_PATTERNS:
        if m := pattern.fullmatch(url):
            return m.group("id")
    return None


def link_kind(url: str) -> str:
    """``local``, ``http``, ``s3``, ``gcs`` or ``gdrive``; a clear error otherwise."""
    if drive_file_id(url):
        return "gdrive"
    if url.startswith("gdrive://") or url.startswith("https://drive.google.com/"):
        raise StorageError(
            f"{redact_url(url)}: not a Google Drive file URL",
            hint="use gdrive://FILE_ID or a file share link",
        )
    remote = parse_remote(url)
    if remote is not None:
        return remote.kind
    if "://" in url:
        scheme = url.split("://", 1)[0]
        raise StorageError(
            f"{redact_url(url)}: links with scheme {scheme!r} are not supported",
            hint="use http(s)://, s3://, gcs://, gdrive:// or a local path",
        )
    return "local"


class LinkedObject:
    """One linked video, read in place. ``creds`` are the secrets of its creds key
    (None: anonymous, or the environment's for ``ENV``, as the caller decides)."""

    def __init__(self, url: str, creds: Mapping[str, Any] | None, *, use_env: bool = False) -> None:
        self.url = url
        self.kind = link_kind(url)
        self.shown = redact_url(url)
        self._creds = dict(creds or {})
        self._use_env = use_env
        self._fs: Any = None
        self._whole: Any = None  # a temp file with the object, if its server ignores Range
        # A local file's (device, inode) when its identity was checked: reads refuse
        # another file put at the same path afterwards (format_spec/links.md §5).
        self._pin: tuple[int, int] | None = None

    def __repr__(self) -> str:  # never the secrets
        return f"LinkedObject({self.shown!r})"

    def _open_local(self) -> tuple[int, os.stat_result]:
        """A linked local file, opened without blocking on a FIFO and checked to be a
        regular file: a hostile dataset may link a FIFO or a device."""
        try:
            fd = os.open(self.url, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            raise SourceNotFoundError(
                f"{self.shown}: no such file", hint="check the link's path"
            ) from None
        except OSError as exc:
            raise StorageError(f"cannot read {self.shown}: {exc.strerror}") from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise InvalidSampleError(f"{self.shown}: not a regular file", hint="link a video file")
        return fd, st

    # --- plumbing -------------------------------------------------------------------------
    def _filesystem(self) -> Any:
        if self._fs is None:
            if self.kind == "gdrive":
                headers = {"Authorization": f"Bearer {self._drive_token()}"}
                self._fs = filesystem("http", {"headers": headers})
            elif self.kind in ("s3", "gcs"):
                self._fs = filesystem(self.kind, self._backend_creds())
            elif self.kind == "http":
                self._fs = filesystem(
                    "http", {k: v for k, v in self._creds.items() if k == "headers"}
                )
        return self._fs

    def _backend_creds(self) -> dict[str, Any] | None:
        """The backend's credentials: None = the environment (ENV); otherwise only what the
        key holds, and anonymous access when it holds no secret (never the environment's
        keys by accident)."""
        if self._use_env:
            return None
        if self.kind == "s3":
            fields = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
            creds = {
                k: v for k, v in self._creds.items() if k in (*fields, "endpoint_url", "region")
            }
            if "aws_access_key_id" not in creds:
                creds["anonymous"] = "true"
            return creds
        creds = {k: v for k, v in self._creds.items() if k in ("token", "endpoint_url")}
        creds.setdefault("token", "anon")
        return creds

    def _drive_token(self) -> str:
        token = os.environ.get("HUBCLI_GDRIVE_TOKEN") if self._use_env else self._creds.get("token")
        if not token:
            raise CredentialsError(
                f"{self.shown}: Google Drive needs an OAuth token",
                hint="set HUBCLI_GDRIVE_TOKEN with creds_key='ENV', or a creds key with a 'token'",
            )
        return str(token)

    def _path(self) -> str:
        if self.kind == "gdrive":
            base = os.environ.get(GDRIVE_API_ENV, GDRIVE_API_DEFAULT).rstrip("/")
            return f"{base}/files/{drive_file_id(self.url)}?alt=media&supportsAllDrives=true"
        if self.kind in ("s3", "gcs"):
            location = parse_remote(self.url)
            assert location is not None
            return location.path
        return self.url

    def _call(self, action: str, operation: Callable[[], Any]) -> Any:
        try:
            return with_retries(operation, f"{action} {self.shown}")
        except FileNotFoundError as exc:
            # fsspec's HTTP backend reports an unreachable server as "not found".
            cause = exc.__cause__ or exc.__context__
            if cause is not None and is_transient(cause):
                reason = (
                    failure_detail(cause)
                    if is_timeout(cause)
                    else f"the server cannot be reached ({type(cause).__name__})"
                )
                raise StorageError(f"cannot {action} {self.shown}: {reason}") from None
            raise SourceNotFoundError(
                f"{self.shown}: no such object", hint="check the link's URL"
            ) from None
        except (StorageError, CredentialsError, SourceNotFoundError):
            raise
        except Exception as exc:
            status = getattr(exc, "status", None) or getattr(exc, "code", None)
            if status == 404:
                raise SourceNotFoundError(
                    f"{self.shown}: no such object", hint="check the link's URL"
                ) from None
            if isinstance(exc, PermissionError) or status in (401, 403) or "Forbidden" in str(exc):
                raise CredentialsError(
                    f"access denied to {self.shown}",
                    hint=CREDS_HINTS.get(self.kind, "check the creds key"),
                ) from None
            names = {c.__name__ for c in type(exc).__mro__}
            if names & {"NoCredentialsError", "PartialCredentialsError", "DefaultCredentialsError"}:
                raise CredentialsError(
                    f"no usable credentials for {self.shown}", hint=CREDS_HINTS.get(self.kind)
                ) from None
            detail = failure_detail(exc) or type(exc).__name__
            raise StorageError(f"cannot {action} {self.shown}: {detail}") from clean_cause(exc)

    # --- identity -------------------------------------------------------------------------
    def identity(self) -> Identity:
        """Size and version tag, from one metadata request (or a stat)."""
        if self.kind == "local":
            fd, st = self._open_local()
            os.close(fd)
            self._pin = (st.st_dev, st.st_ino)
            return Identity(st.st_size, None, str(st.st_mtime_ns))
        if self.kind == "gdrive":
            return self._drive_identity()
        info = self._call("stat", lambda: self._filesystem().info(self._path()))
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
        base = os.environ.get(GDRIVE_API_ENV, GDRIVE_API_DEFAULT).rstrip("/")
        meta_url = (
            f"{base}/files/{drive_file_id(self.url)}"
            "?fields=size,md5Checksum,modifiedTime&supportsAllDrives=true"
        )
        raw = self._call("stat", lambda: self._filesystem().cat_file(meta_url))
        try:
            meta = json.loads(raw)
            return Identity(int(meta["size"]), meta.get("md5Checksum"), meta.get("modifiedTime"))
        except (ValueError, KeyError, TypeError):
            raise StorageError(
                f"{self.shown}: the Drive API answered without a file size"
            ) from None

    # --- bytes ----------------------------------------------------------------------------
    def read_ranges(self, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        """Exact byte ranges. A server that ignores Range is detected (it sends more
        than asked): the whole object is then kept for this object's later reads."""
        if self._whole is not None:
            return _read_file(self._whole, ranges)
        if self.kind == "local":
            fd, st = self._open_local()
            try:
                if self._pin is not None and (st.st_dev, st.st_ino) != self._pin:
                    raise LinkChangedError(
                        f"{self.shown}: the file was replaced since it was checked",
                        hint="read it again",
                    )
                return [os.pread(fd, max(0, min(b, st.st_size) - a), a) for a, b in ranges]
            finally:
                os.close(fd)
        fs, path = self._filesystem(), self._path()
        out = []
        for a, b in ranges:

            def fetch(a: int = a, b: int = b) -> bytes:
                return bytes(fs.cat_file(path, start=a, end=b))

            data = self._call("read", fetch)
            if len(data) > b - a:  # the server sent the whole object: no Range support
                warnings.warn(
                    f"{self.shown}: the server ignores Range requests; reading the whole object",
                    HubcliWarning,
                    stacklevel=2,
                )
                # Kept in a temp file (deleted with this object), not in memory.
                self._whole = tempfile.TemporaryFile()  # noqa: SIM115
                weakref.finalize(self, self._whole.close)
                self._whole.write(data)
                return _read_file(self._whole, ranges)
            out.append(data)
        return out

    @contextmanager
    def spool(self, progress: Callable[[int], None] | None = None) -> Iterator[str]:
        """The whole object in a local file (for indexing at append time)."""
        if self.kind == "local":
            yield self.url
            return
        fd, name = tempfile.mkstemp(prefix="hubcli-link-", suffix=".partial")
        os.close(fd)
        try:
            fs, path = self._filesystem(), self._path()
            self._call("download", lambda: fs.get_file(path, name))
            yield name
        finally:
            Path(name).unlink(missing_ok=True)


def _read_file(f: Any, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    out = []
    for a, b in ranges:
        f.seek(a)
        out.append(f.read(b - a))
    return out
