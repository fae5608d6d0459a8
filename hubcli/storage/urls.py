"""What a URL names: which backend reads it, and the path that backend takes.

Dataset and source URLs: ``s3://``/``s3a://``, ``gs://``/``gcs://``, ``http(s)://``.
Links add local paths and Google Drive (``gdrive://FILE_ID`` or a Drive share URL, read
through the Drive v3 API ``files/{id}?alt=media``; the API base comes from
``HUBCLI_GDRIVE_API`` so tests can point it at a local server).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from hubcli.errors import StorageError
from hubcli.redaction import redact_url

_SCHEMES = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "http": "http", "https": "http"}

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
class RemoteLocation:
    """A remote URL, split: ``kind`` is s3, gcs or http; ``path`` is what fsspec takes."""

    kind: str
    url: str
    path: str
    bucket: str


def parse_remote(url: str) -> RemoteLocation | None:
    """The location of an s3://, gs://, gcs:// or http(s):// URL; None for anything else."""
    scheme, sep, rest = url.partition("://")
    kind = _SCHEMES.get(scheme.lower()) if sep else None
    if kind is None:
        return None
    if kind == "http":
        return RemoteLocation(kind, url, url, rest.split("/", 1)[0])
    rest = rest.strip("/")
    bucket = rest.split("/", 1)[0]
    if not bucket:
        raise StorageError(
            f"{url}: no bucket in the URL", hint=f"write it as {scheme}://BUCKET/PREFIX"
        )
    return RemoteLocation(kind, f"{scheme.lower()}://{rest}", rest, bucket)


def is_url(text: str) -> bool:
    return parse_remote(text) is not None


def drive_file_id(url: str) -> str | None:
    for pattern in _DRIVE_PATTERNS:
        if m := pattern.fullmatch(url):
            return m.group("id")
    return None


def drive_api_url(file_id: str, query: str) -> str:
    """The Drive v3 API URL of file ``file_id`` with ``query`` (``alt=media``: its bytes;
    ``fields=...``: its metadata)."""
    base = os.environ.get(GDRIVE_API_ENV, GDRIVE_API_DEFAULT).rstrip("/")
    return f"{base}/files/{file_id}?{query}&supportsAllDrives=true"


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
