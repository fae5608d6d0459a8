"""A store over any fsspec filesystem (object stores, HTTP, fsspec's memory FS).

Reads use ``cat_file`` with exact byte ranges, never ``open()``: fsspec's buffered
files read ahead megabytes, which would break the streaming byte budget.
"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from hubcli.errors import StorageError
from hubcli.storage.base import Store, check_key, check_prefix

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence


class FsspecStore(Store):
    """Keys under ``root`` on the fsspec filesystem ``fs``; ``url`` names it in messages."""

    # Object stores charge per request: merge ranges whose gap is below this.
    coalesce_gap = 64 << 10

    def __init__(self, fs: Any, root: str, url: str) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self.url = url

    def _path(self, key: str) -> str:
        return f"{self.root}/{check_key(key)}"

    @contextmanager
    def _errors(self, action: str, key: str) -> Iterator[None]:
        """fsspec's builtin exceptions, with our key in them; anything else a backend
        raises (botocore, aiohttp, google-auth...) becomes a StorageError."""
        try:
            yield
        except FileNotFoundError:
            raise FileNotFoundError(self.describe(key)) from None
        except FileExistsError:
            raise FileExistsError(self.describe(key)) from None
        except StorageError:
            raise
        except Exception as exc:
            raise StorageError(
                f"cannot {action} {self.describe(key)}: {type(exc).__name__}: {exc}"
            ) from exc

    def get(self, key: str) -> bytes:
        with self._errors("read", key):
            return bytes(self.fs.cat_file(self._path(key)))

    def get_range(self, key: str, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        with self._errors("read", key):
            return bytes(self.fs.cat_file(self._path(key), start=start, end=end))

    def get_ranges(self, key: str, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        if not ranges:
            return []
        path = self._path(key)
        with self._errors("read", key):
            out = self.fs.cat_ranges(
                [path] * len(ranges),
                [a for a, _ in ranges],
                [b for _, b in ranges],
                on_error="raise",
            )
        return [bytes(b) for b in out]

    def put(self, key: str, data: bytes) -> None:
        with self._errors("write", key):
            self.fs.pipe_file(self._path(key), bytes(data))

    def put_if_absent(self, key: str, data: bytes) -> None:
        with self._errors("write", key):
            self.fs.pipe_file(self._path(key), bytes(data), mode="create")

    @contextmanager
    def open_writer(self, key: str) -> Iterator[BinaryIO]:
        # Spool to a local temp file, upload on success. fsspec's writable files publish
        # at different moments per backend (memory: at open; S3: at close, even after an
        # exception), so none of them can promise "whole or absent" by itself.
        path = self._path(key)
        with tempfile.NamedTemporaryFile(prefix="hubcli-", suffix=".partial") as spool:
            yield cast("BinaryIO", spool)
            spool.flush()
            with self._errors("write", key):
                self.fs.put_file(spool.name, path)

    def list(self, prefix: str = "") -> list[str]:
        check_prefix(prefix)
        base = f"{self.root}/{prefix}".rstrip("/")
        try:
            with self._errors("list", prefix):
                found = self.fs.find(base)
        except FileNotFoundError:
            return []
        root = self.fs._strip_protocol(self.root).rstrip("/") + "/"
        keys = [
            p[len(root) :]
            for p in (self.fs._strip_protocol(p) for p in found)
            if p.startswith(root)
        ]
        return sorted(keys)

    def size(self, key: str) -> int:
        with self._errors("stat", key):
            info = self.fs.info(self._path(key))
        if info.get("type") == "directory":
            raise FileNotFoundError(self.describe(key))
        return int(info["size"])

    def delete(self, key: str) -> None:
        try:
            with self._errors("delete", key):
                self.fs.rm_file(self._path(key))
        except FileNotFoundError:
            return
