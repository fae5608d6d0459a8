"""Link samples: ``hubcli.link(url, creds_key=...)``, staging them (index, no copy) and
opening their bytes for reads, with the object's identity checked first."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hubcli.core.sources import container_noun
from hubcli.creds import ENV
from hubcli.errors import CredentialsError, InvalidSampleError, LinkChangedError
from hubcli.format.segment import LinkInfo, SampleRecord
from hubcli.redaction import has_secrets, redact_url
from hubcli.storage.links import Identity, LinkedObject, link_kind

if TYPE_CHECKING:
    from hubcli.core.ingest import Progress
    from hubcli.video.index import IndexedVideo

#: Gives (secrets, use_environment) for a creds key name (None: anonymous).
SecretsFor = Callable[[str | None], tuple[Mapping[str, Any] | None, bool]]


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


@dataclass
class LinkBytes:
    """The bytes of a linked sample, read in place."""

    obj: LinkedObject
    where: str

    @property
    def coalesce_gap(self) -> int:
        return 1 << 20 if self.obj.kind == "local" else 64 << 10

    @property
    def fetch_ahead(self) -> bool:
        # Not for http(s) and Drive: whether the server honours Range is learnt from
        # the first read (LinkedObject.read_ranges), which must not race another.
        return self.obj.kind in ("s3", "gcs")

    def read(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        return self.obj.read_ranges(ranges)

    def damaged(self, packet: int) -> Exception:
        return LinkChangedError(
            f"{self.where}: packet {packet} fails its checksum: the linked object changed "
            "since it was appended",
            hint="append it again to index the new version",
        )


def open_link(record: SampleRecord, label: str, secrets_for: SecretsFor) -> LinkBytes:
    """The linked object of ``record``, after checking it is the one that was indexed."""
    assert record.link is not None
    creds, use_env = secrets_for(record.link.creds_key)
    obj = LinkedObject(record.link.url, creds, use_env=use_env)
    now = obj.identity()
    then = Identity(record.size, record.link.etag, record.link.modified)
    if not now.same_as(then):
        # Nothing about the object now at the URL (size, ETag, time): a hostile dataset
        # could link any file or object the reader can see and learn them from the error.
        raise LinkChangedError(
            f"{obj.shown} ({label}) changed since it was appended",
            hint="append it again to index the new version",
        )
    return LinkBytes(obj, f"{obj.shown} ({label})")


def stage_link(
    source: LinkSource,
    compression: str | None,
    tensor: str,
    secrets_for: SecretsFor,
    progress: Progress | None,
) -> tuple[SampleRecord, IndexedVideo]:
    """Index a linked video in place: read it once (streamed to a temp file), keep its
    identity; nothing of it is copied into the dataset."""
    creds, use_env = secrets_for(source.creds_key)
    obj = LinkedObject(source.url, creds, use_env=use_env)
    before = obj.identity()
    with obj.spool() as path:
        size = os.path.getsize(path)
        from hubcli.video.index import index_video  # PyAV loads when a video is indexed

        indexed = index_video(lambda: open(path, "rb"), size, obj.shown)  # noqa: SIM115
        if compression is not None and indexed.format != compression:
            raise InvalidSampleError(
                f"{obj.shown}: is {container_noun(indexed.format)}, tensor {tensor!r} holds "
                f"{compression}",
                hint=f"link {compression} files, or use a link tensor without sample_compression",
            )
        if indexed.supplement:
            raise InvalidSampleError(
                f"{obj.shown}: some packets are not stored verbatim in the file (laced or "
                "header-stripped Matroska), so it cannot be read in place",
                hint="append it to a video tensor instead of linking it",
            )
        digest = _sha256(path)
        if progress:
            progress(size)
    after = obj.identity()
    if not after.same_as(before) or after.size != size:
        raise InvalidSampleError(
            f"{obj.shown}: the object changed while it was being linked", hint="link it again"
        )
    link_info = LinkInfo(source.url, source.creds_key, before.etag, before.modified)
    record = indexed.to_record(
        chunk=None, offset=0, size=size, sha256=digest, filename=obj.shown, link=link_info
    )
    return record, indexed


def _sha256(path: str) -> bytes:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            sha.update(block)
    return sha.digest()


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
