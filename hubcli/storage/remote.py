"""A store over an fsspec filesystem: S3, GCS (and fsspec's memory FS in tests), and
:class:`ObjectStore`, one object named by a URL (a source to append, a linked video).

Reads use ``cat_file``/``cat_ranges`` with exact byte ranges, never ``open()``: fsspec's
buffered files read ahead megabytes, which would break the streaming byte budget
(format_spec/reading.md §4). Every call is retried on transient faults
(storage/transient.py) and every failure becomes one of our errors naming the URL
(storage/errors.py).
"""

from __future__ import annotations

import tempfile
import time
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar, cast

from hubcli.errors import HubcliError, SourceNotFoundError, StorageError
from hubcli.storage.base import ObjectInfo, Store, check_key, check_prefix
from hubcli.storage.errors import NO_SUCH_OBJECT, cause_of, translate
from hubcli.storage.transient import with_retries

if TYPE_CHECKING:
    import builtins
    from collections.abc import Callable, Iterator, Mapping, Sequence

T = TypeVar("T")


class FsspecStore(Store):
    """Keys under ``root`` on the fsspec filesystem ``fs``; ``url`` names it in messages.

    ``kind`` ("s3", "gcs", or "" for others) picks the credentials hint in errors.
    """

    # Object stores charge per request: merge ranges whose gap is below this.
    coalesce_gap = 64 << 10
    remote = True

    def __init__(self, fs: Any, root: str, url: str, kind: str = "", bucket: str = "") -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self.url = url.rstrip("/")
        self.kind = kind
        self.bucket = bucket

    def _path(self, key: str) -> str:
        return f"{self.root}/{check_key(key)}" if self.root else check_key(key)

    def _call(self, action: str, key: str, operation: Callable[[], T]) -> T:
        """Run ``operation`` with retries; translate what still fails."""
        try:
            return with_retries(operation, f"{action} {self.describe(key)}")
        except HubcliError:
            raise
        except Exception as exc:
            error = translate(
                exc,
                action=action,
                where=self.describe(key),
                kind=self.kind,
                missing=lambda problem: self._missing(key, problem),
            )
            raise error from cause_of(exc, error)

    def _missing(self, key: str, problem: str) -> Exception:
        """A missing key: ``FileNotFoundError``, as the Store contract says."""
        return FileNotFoundError(self.describe(key))

    def check_root(self) -> None:
        """Raise a clear error if the bucket itself is missing or unreachable."""
        if not self.bucket:
            return
        exists = self._call("open", "", lambda: self.fs.exists(self.bucket))
        if not exists:
            raise StorageError(
                f"{self.url}: bucket {self.bucket!r} does not exist",
                hint="create it, or check the URL (and AWS_ENDPOINT_URL or STORAGE_EMULATOR_HOST)",
            )

    def describe(self, key: str) -> str:
        return f"{self.url}/{key}" if key else self.url

    def get(self, key: str) -> bytes:
        path = self._path(key)
        # s3fs first HEADs an object read whole (to split it for concurrent reads); the
        # objects read whole here are small manifests, so save that request.
        options = {"max_concurrency": 1} if self.kind == "s3" else {}
        return self._call("read", key, lambda: bytes(self.fs.cat_file(path, **options)))

    def get_range(self, key: str, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        path = self._path(key)
        return self._call("read", key, lambda: bytes(self.fs.cat_file(path, start=start, end=end)))

    def get_ranges(self, key: str, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        if not ranges:
            return []
        path = self._path(key)
        starts, ends = [a for a, _ in ranges], [b for _, b in ranges]
        out = self._call(
            "read",
            key,
            lambda: self.fs.cat_ranges([path] * len(ranges), starts, ends, on_error="raise"),
        )
        return [bytes(b) for b in out]

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        self._call("write", key, lambda: self.fs.pipe_file(path, bytes(data)))

    def put_if_absent(self, key: str, data: bytes) -> None:
        # S3: PUT with If-None-Match: *; GCS: ifGenerationMatch=0. A retry after a lost
        # reply may meet our own first write as "exists": callers that care compare.
        path = self._path(key)
        self._call("write", key, lambda: self.fs.pipe_file(path, bytes(data), mode="create"))

    @contextmanager
    def open_writer(self, key: str) -> Iterator[BinaryIO]:
        # Spool to a local temp file, upload on success. fsspec's writable files publish
        # at different moments per backend (memory: at open; S3: at close, even after an
        # exception), so none of them can promise "whole or absent" by itself; and a
        # spooled upload can be retried.
        path = self._path(key)
        with tempfile.NamedTemporaryFile(prefix="hubcli-", suffix=".partial") as spool:
            yield cast("BinaryIO", spool)
            spool.flush()
            self._call("write", key, lambda: self.fs.put_file(spool.name, path))

    def list(self, prefix: str = "") -> list[str]:
        return [info.key for info in self.list_info(prefix)]

    def list_info(self, prefix: str = "") -> builtins.list[ObjectInfo]:
        """One LIST (paged by the backend) gives keys, sizes and write times."""
        check_prefix(prefix)
        base = f"{self.root}/{prefix}".rstrip("/") if self.root else prefix.rstrip("/")
        try:
            found = self._call("list", prefix, lambda: self.fs.find(base, detail=True))
        except FileNotFoundError:
            return []
        root = self.fs._strip_protocol(self.root).rstrip("/") + "/" if self.root else ""
        infos = []
        for path, info in found.items():
            stripped = self.fs._strip_protocol(path)
            if stripped.startswith(root) and info.get("type") != "directory":
                infos.append(
                    ObjectInfo(stripped[len(root) :], int(info.get("size") or 0), _modified(info))
                )
        return sorted(infos, key=lambda i: i.key)

    def info(self, key: str) -> dict[str, Any]:
        """What the backend says about ``key`` (size, ETag, generation, times...)."""
        path = self._path(key)
        return dict(self._call("stat", key, lambda: self.fs.info(path)))

    def size(self, key: str) -> int:
        info = self.info(key)
        if info.get("type") == "directory":
            raise FileNotFoundError(self.describe(key))
        return int(info["size"])

    def download(self, key: str, dest: str, callback: Any = None) -> None:
        """Copy the whole value of ``key`` to the local file ``dest``, streaming."""
        path = self._path(key)
        options = {} if callback is None else {"callback": callback}
        self._call("download", key, lambda: self.fs.get_file(path, dest, **options))

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            self._call("delete", key, lambda: self.fs.rm_file(path))
        except FileNotFoundError:
            return


class ObjectStore(FsspecStore):
    """One object named by a URL (a source to append, a linked video) as a store: key
    ``""`` is the object, other keys name other requests about it (``paths``: Drive's
    metadata). Messages name the URL as the user wrote it, redacted (``shown``); a
    missing object is a :class:`~hubcli.errors.SourceNotFoundError`."""

    def __init__(self, fs: Any, paths: Mapping[str, str], shown: str, kind: str, hint: str) -> None:
        super().__init__(fs, "", shown, kind)
        self.paths = dict(paths)
        self.hint = hint

    def _path(self, key: str) -> str:
        return self.paths[key]

    def describe(self, key: str) -> str:
        return self.url

    def _missing(self, key: str, problem: str) -> Exception:
        hint = self.hint if problem == NO_SUCH_OBJECT else None
        return SourceNotFoundError(f"{self.url}: {problem}", hint=hint)


def _modified(info: dict[str, Any]) -> float:
    """An object's write time from a listing: S3 ``LastModified`` (a datetime), GCS
    ``updated`` (an RFC 3339 string), or fsspec's ``mtime``/``created``. Unknown: now
    (garbage collection then spares the object)."""
    value = info.get("LastModified") or info.get("updated") or info.get("mtime")
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    return time.time()
