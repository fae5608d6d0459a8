"""What can be appended: ``hubcli.read(...)`` references, plain paths and URLs, and
for ``link[video]`` tensors ``hubcli.link(...)`` samples.

A source is turned into a local file for the time it takes to index and copy it: a
local file as it is (checked for changes), a URL by streaming it to a temp spool. A
link is indexed in place at append (core/ingest.py) and read in place
(core/packets.py).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubcli.creds import ENV
from hubcli.errors import CredentialsError, InvalidSampleError, SourceNotFoundError
from hubcli.format.manifest import SAMPLE_COMPRESSIONS
from hubcli.redaction import has_secrets, redact_url
from hubcli.storage.credentials import Credentials
from hubcli.storage.fetch import is_url, spool
from hubcli.storage.resolve import split_scheme
from hubcli.storage.urls import link_kind

#: Called with byte counts as an append goes: downloaded (URLs), indexed, then copied.
Progress = Callable[[int], None]
#: Gives the credentials of a creds key name (None: anonymous; storage/credentials.py).
SecretsFor = Callable[[str | None], Credentials]


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

    def check(self) -> None:
        """Refuse now what is certain to fail later (a missing local file), so that a
        long append fails before it starts. Sources that must be fetched: nothing."""
        return

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


@dataclass(frozen=True, repr=False)
class FileSource(VideoSource):
    """A video file on the local disk (``compression``: the container it must be)."""

    path: str
    compression: str | None = None

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

    def check(self) -> None:
        self._stat()

    @contextmanager
    def materialize(self, progress: Progress | None = None) -> Iterator[LocalVideo]:
        before = self._stat()
        local = LocalVideo(self.path, before.st_size)
        check_container(local, self.name, self.compression)
        yield local
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
    creds: Mapping[str, Any] | Credentials | None = field(default=None, compare=False)
    compression: str | None = None

    @property
    def name(self) -> str:
        return redact_url(self.url)

    @contextmanager
    def materialize(self, progress: Progress | None = None) -> Iterator[LocalVideo]:
        with spool(self.url, self.creds, progress) as spooled:
            local = LocalVideo(spooled.path, spooled.size)
            check_container(local, self.name, self.compression)
            yield local


@dataclass(frozen=True, repr=False)
class ObservedSource(VideoSource):
    """A source that says when it is read: ``on_start()`` as it begins, ``on_size(n)``
    once its size is known (a URL: downloaded). For progress shown per file."""

    source: VideoSource
    on_start: Callable[[], None]
    on_size: Callable[[int], None]

    @property
    def name(self) -> str:
        return self.source.name

    @contextmanager
    def materialize(self, progress: Progress | None = None) -> Iterator[LocalVideo]:
        self.on_start()
        # The download is not passed on: the observer counts a source's bytes as they
        # are indexed and copied, which a download would count a third time.
        with self.source.materialize(None) as local:
            self.on_size(local.size)
            yield local


def container_noun(container: str) -> str:
    """``an avi file``, ``an mkv file``, ``a webm file``, ``a mov file``: letters said
    by name (m-k-v) take "an" like vowels do."""
    spelt = container[:1] in "fhlmnrsx" and container[1:2] not in ("", *"aeiou")
    article = "an" if container[:1] in "aeiou" or spelt else "a"
    return f"{article} {container} file"


def check_container(local: LocalVideo, name: str, compression: str | None) -> None:
    """That ``local`` is a ``compression`` container, from its first bytes (no demuxer)."""
    if compression is None:
        return
    from hubcli.video.containers import SNIFF_BYTES, sniff_container

    with local.open() as f:
        found = sniff_container(f.read(SNIFF_BYTES))
    if found != compression:
        what = f"is {container_noun(found)}" if found else f"is not {container_noun(compression)}"
        raise InvalidSampleError(
            f"{name}: {what}, but hubcli.read was given compression={compression!r}",
            hint="pass the file's own container, or no compression",
        )


def read(
    path_or_url: str | os.PathLike[str],
    creds: Mapping[str, Any] | Credentials | None = None,
    compression: str | None = None,
    verify: bool = False,
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
    compression
        The container the file must be (``mp4``, ``mov``, ``mkv``, ``webm``, ``avi``),
        checked from its first bytes when it is read (at append, or now with ``verify``).
    verify
        Read, index and decode-check the video now (a URL is downloaded now, and again
        at append), so a bad file fails here rather than at append.

    Raises
    ------
    InvalidSampleError
        ``path_or_url`` is not a path or has an unsupported scheme; ``compression`` is
        unknown; with ``verify``, the video is not a usable one.
    SourceNotFoundError
        With ``verify``: no such file.
    """
    if not isinstance(path_or_url, (str, os.PathLike)):
        raise InvalidSampleError(
            f"cannot read {path_or_url!r}: expected a path or URL", hint="pass a string"
        )
    if compression is not None and compression not in SAMPLE_COMPRESSIONS:
        raise InvalidSampleError(
            f"unknown compression {compression!r}",
            hint=f"use one of: {', '.join(SAMPLE_COMPRESSIONS)}",
        )
    source = _source(os.fspath(path_or_url), creds, compression)
    if verify:
        verify_source(source)
    return source


def _source(
    path: str, creds: Mapping[str, Any] | Credentials | None, compression: str | None
) -> VideoSource:
    if "\x00" in path:
        raise InvalidSampleError(f"cannot read {path!r}: the name holds a NUL byte")
    if is_url(path):
        return UrlSource(path, creds, compression)
    scheme, rest = split_scheme(path)
    if scheme == "file":
        return FileSource(rest, compression)
    if scheme:
        raise InvalidSampleError(
            f"{redact_url(path)}: URLs with scheme {scheme!r} are not supported",
            hint="use a local path, http(s)://, s3:// or gcs://",
        )
    return FileSource(path, compression)


def verify_source(source: VideoSource) -> None:
    """Index and decode-check ``source`` now, as an append would (nothing is kept)."""
    from hubcli.video.index import index_video  # PyAV loads when a video is indexed

    with source.materialize() as local:
        index_video(local.open, local.size, source.name)


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


# --- links (format_spec/links.md) ---------------------------------------------------


@dataclass(frozen=True)
class LinkSource:
    """A link sample: a URL (or local path) and the name of the key to read it with."""

    url: str
    creds_key: str | None = None

    @property
    def name(self) -> str:
        return self.url


def link(url: str | os.PathLike[str], creds_key: str | None = None) -> LinkSource:
    """A link sample for a ``link[video]`` tensor.

    Parameters
    ----------
    url
        ``http(s)://``, ``s3://``, ``gcs://``/``gs://``, ``gdrive://FILE_ID`` or a Drive
        share link, or a local path.
    creds_key
        None (anonymous), ``"ENV"`` (the environment), or a key added with
        ``ds.add_creds_key``.

    Raises
    ------
    InvalidSampleError
        The URL carries credentials (user info, or a query or fragment parameter whose
        name looks like one: ``token``, ``sig``, ``X-Amz-Signature``...; see
        hubcli/redaction.py), which would be stored in the dataset.
    """
    text = os.fspath(url)
    if not isinstance(text, str) or not text:
        raise InvalidSampleError(f"cannot link {url!r}: expected a URL or path")
    if creds_key is not None and not isinstance(creds_key, str):
        raise InvalidSampleError(f"creds_key must be a key name, None or 'ENV', not {creds_key!r}")
    if "://" in text and has_secrets(text):
        raise InvalidSampleError(
            f"{redact_url(text)}: the URL carries credentials, which would be stored "
            "in the dataset",
            hint="link the plain URL and give the secrets through a creds key",
        )
    if link_kind(text) == "local":
        text = os.path.abspath(text)
    return LinkSource(text, creds_key)


def as_link(sample: object, creds_key: str | None = None) -> LinkSource:
    """A sample as given to a link tensor's ``append``: ``hubcli.link(...)``, or a URL
    with the ``creds_key`` given beside it (Hub's ``append(url, creds_key=...)``)."""
    if isinstance(sample, LinkSource):
        if creds_key is not None and creds_key != sample.creds_key:
            raise InvalidSampleError(
                f"{sample.url}: creds_key {creds_key!r} given beside a link made with "
                f"creds_key {sample.creds_key!r}",
                hint="give the key once: hubcli.link(url, creds_key=...) or append(url, "
                "creds_key=...)",
            )
        return sample
    if isinstance(sample, (str, os.PathLike)):
        return link(sample, creds_key)
    raise InvalidSampleError(
        f"cannot append {type(sample).__name__} to a link[video] tensor",
        hint="append hubcli.link(url, creds_key=...) or a URL",
    )


def check_keys(sources: Sequence[LinkSource], known: Sequence[str]) -> None:
    """Every source's key must be None, ENV or a key of the dataset (before any I/O)."""
    for n, source in enumerate(sources):
        key = source.creds_key
        if key is not None and key != ENV and key not in known:
            listed = ", ".join(known) if known else "none"
            error = CredentialsError(
                f"creds key {key!r} was not added to this dataset (keys: {listed})",
                hint=f"add it with ds.add_creds_key({key!r}) or: hubcli creds add DATASET {key}",
            )
            error.source_index = n
            raise error
