"""A store in process memory: for tests and for datasets that need no persistence."""

from __future__ import annotations

import io
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, BinaryIO

from hubcli.storage.base import ObjectInfo, Store, check_key, check_prefix

if TYPE_CHECKING:
    import builtins
    from collections.abc import Iterator


class MemoryStore(Store):
    coalesce_gap = 1 << 20

    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._data: dict[str, bytes] = {}
        self._times: dict[str, float] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes:
        try:
            return self._data[check_key(key)]
        except KeyError:
            raise FileNotFoundError(self.describe(key)) from None

    def get_range(self, key: str, start: int, end: int) -> bytes:
        return self.get(key)[start:end]

    def put(self, key: str, data: bytes) -> None:
        with self._lock:
            self._data[check_key(key)] = bytes(data)
            self._times[key] = time.time()

    def put_if_absent(self, key: str, data: bytes) -> None:
        with self._lock:
            if check_key(key) in self._data:
                raise FileExistsError(self.describe(key))
            self._data[key] = bytes(data)
            self._times[key] = time.time()

    @contextmanager
    def open_writer(self, key: str) -> Iterator[BinaryIO]:
        check_key(key)
        buffer = io.BytesIO()
        yield buffer
        self.put(key, buffer.getvalue())

    def list(self, prefix: str = "") -> list[str]:
        check_prefix(prefix)
        with self._lock:
            return sorted(k for k in self._data if k.startswith(prefix))

    def list_info(self, prefix: str = "") -> builtins.list[ObjectInfo]:
        check_prefix(prefix)
        with self._lock:
            return [
                ObjectInfo(k, len(v), self._times.get(k, 0.0))
                for k, v in sorted(self._data.items())
                if k.startswith(prefix)
            ]

    def size(self, key: str) -> int:
        return len(self.get(key))

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(check_key(key), None)
            self._times.pop(key, None)
