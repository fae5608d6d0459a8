"""What can be appended: ``hubcli.read(...)`` references and plain paths."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from hubcli.errors import InvalidSampleError, SourceNotFoundError
from hubcli.storage.resolve import split_scheme


@dataclass(frozen=True)
class VideoSource:
    """A lazy reference to a video file; nothing is read until it is appended.

    Local files only for now; URLs arrive with remote storage.
    """

    path: str

    @property
    def name(self) -> str:
        """How the file is named in messages and in ``sample_info["filename"]``."""
        return self.path

    def _local(self) -> Path:
        return Path(self.path)

    def stat(self) -> os.stat_result:
        """The file's stat, or a clear error if it is missing or not a file."""
        path = self._local()
        try:
            st = path.stat()
        except FileNotFoundError:
            raise SourceNotFoundError(f"{self.name}: no such file", hint="check the path") from None
        except OSError as exc:
            raise SourceNotFoundError(f"{self.name}: cannot read ({exc.strerror})") from None
        if not path.is_file():
            raise InvalidSampleError(f"{self.name}: not a regular file", hint="append a video file")
        return st

    def open(self) -> BinaryIO:
        try:
            return open(self._local(), "rb")
        except OSError as exc:
            raise SourceNotFoundError(f"{self.name}: cannot read ({exc.strerror})") from None


def read(path_or_url: str | os.PathLike[str], creds: dict[str, str] | None = None) -> VideoSource:
    """A lazy reference to a video file, to append to a ``video`` tensor.

    Parameters
    ----------
    path_or_url
        A local path. (``http(s)://``, ``s3://`` and ``gcs://`` URLs: not yet.)
    creds
        Credentials for remote URLs; unused for local files.

    Raises
    ------
    InvalidSampleError
        If ``path_or_url`` is not a path or has an unsupported scheme.
    """
    if not isinstance(path_or_url, (str, os.PathLike)):
        raise InvalidSampleError(
            f"cannot read {path_or_url!r}: expected a path", hint="pass a file path string"
        )
    path = os.fspath(path_or_url)
    scheme, rest = split_scheme(path)
    if scheme == "file":
        return VideoSource(rest)
    if scheme:
        raise InvalidSampleError(
            f"{path}: URLs with scheme {scheme!r} are not supported yet",
            hint="download the file and append its local path",
        )
    return VideoSource(path)


def as_source(sample: object) -> VideoSource:
    """A sample as given to ``append``: a ``read(...)`` result or a path."""
    if isinstance(sample, VideoSource):
        return sample
    if isinstance(sample, (str, os.PathLike)):
        return read(sample)
    raise InvalidSampleError(
        f"cannot append {type(sample).__name__} to a video tensor",
        hint="append a file path or hubcli.read(path)",
    )
