"""What can be appended: ``hubcli.read(...)`` references, plain paths and URLs.

A source is turned into a local file for the time it takes to index and copy it: a
local file as it is (checked for changes), a URL by streaming it to a temp spool.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubcli.errors import InvalidSampleError, SourceNotFoundError
from hubcli.redaction import redact_url
from hubcli.storage.fetch import is_url, spool
from hubcli.storage.resolve import split_scheme

#: Called with byte counts as a source is downloaded.
Progress = Callable[[int], None]


@dataclass(frozen=True)
class LocalVideo:
    """A source as a local file, for indexing and copying."""

    path: str
    size: int

    def open(self) -> Any:
        return open(self.path, "rb")


class VideoSource(ABC):
    """A lazy reference to a video; nothing is read until it is appended."""

    @property
    @abstractmethod
    def name(self) -> str:
        """How the source is named in messages and in ``sample_info["filename"]``: never
        with secrets in it."""

    @abstractmethod
    def materialize(self, progress: Progress | None = None) -> Any:
        """A context manager giving a LocalVideo that stays valid inside the block."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


@dataclass(frozen=True, repr=False)
class FileSource(VideoSource):
    """A video file on the local disk."""

    path: str

    @property
    def name(self) -> str:
        return self.path

    def _stat(self) -> os.stat_result:
        path = Path(self.path)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise SourceNotFoundError(f"{self.name}: no such file", hint="check the path") from None
        except OSError as exc:
            raise SourceNotFoundError(f"{self.name}: cannot read ({exc.strerror})") from None
        if not path.is_file():
            raise InvalidSampleError(f"{self.name}: not a regular file", hint="append a video file")
        return st

    @contextmanager
    def materialize(self, progress: Progress | None = None) -> Iterator[LocalVideo]:
        before = self._stat()
        yield LocalVideo(self.path, before.st_size)
        after = self._stat()
        # The index would no longer describe the bytes if the file changed meanwhile.
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            raise InvalidSampleError(
                f"{self.name}: the file changed while it was being appended", hint="append it again"
            )


@dataclass(frozen=True, repr=False)
class UrlSource(VideoSource):
    """A video behind an http(s)://, s3:// or gcs:// URL, with its own credentials."""

    url: str
    creds: Mapping[str, Any] | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        return redact_url(self.url)

    @contextmanager
    def materialize(self, progress: Progress | None = None) -> Iterator[LocalVideo]:
        with spool(self.url, self.creds, progress) as spooled:
            yield LocalVideo(spooled.path, spooled.size)


def read(
    path_or_url: str | os.PathLike[str], creds: Mapping[str, Any] | None = None
) -> VideoSource:
    """A lazy reference to a video file, to append to a ``video`` tensor.

    Parameters
    ----------
    path_or_url
        A local path, or an ``http(s)://``, ``s3://``, ``gcs://`` or ``gs://`` URL.
    creds
        For URLs: credentials of that store (``aws_access_key_id``, ``aws_secret_access_key``,
        ``aws_session_token``, ``endpoint_url``, ``region``; GCS ``token``; HTTP ``headers``).
        None: the environment's. Never stored in the dataset.

    Raises
    ------
    InvalidSampleError
        ``path_or_url`` is not a path or has an unsupported scheme.
    """
    if not isinstance(path_or_url, (str, os.PathLike)):
        raise InvalidSampleError(
            f"cannot read {path_or_url!r}: expected a path or URL", hint="pass a string"
        )
    path = os.fspath(path_or_url)
    if "\x00" in path:
        raise InvalidSampleError(f"cannot read {path!r}: the name holds a NUL byte")
    if is_url(path):
        return UrlSource(path, creds)
    scheme, rest = split_scheme(path)
    if scheme == "file":
        return FileSource(rest)
    if scheme:
        raise InvalidSampleError(
            f"{redact_url(path)}: URLs with scheme {scheme!r} are not supported",
            hint="use a local path, http(s)://, s3:// or gcs://",
        )
    return FileSource(path)


def as_source(sample: object) -> VideoSource:
    """A sample as given to ``append``: a ``read(...)`` result, a path or a URL."""
    if isinstance(sample, VideoSource):
        return sample
    if isinstance(sample, (str, os.PathLike)):
        return read(sample)
    raise InvalidSampleError(
        f"cannot append {type(sample).__name__} to a video tensor",
        hint="append a file path, a URL, or hubcli.read(path_or_url)",
    )
