"""Store wrappers for tests: count what is read, fail chosen writes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from hubcli.errors import StorageError
from hubcli.storage.base import Store


@dataclass
class Read:
    key: str
    start: int
    end: int
    nbytes: int


class ForwardingStore(Store):
    """Forwards every call to ``inner``: a wrapper overrides only what it observes."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.url = inner.url

    def get(self, key: str) -> bytes:
        return self.inner.get(key)

    def get_range(self, key: str, start: int, end: int) -> bytes:
        return self.inner.get_range(key, start, end)

    def put(self, key: str, data: bytes) -> None:
        self.inner.put(key, data)

    def put_if_absent(self, key: str, data: bytes) -> None:
        self.inner.put_if_absent(key, data)

    def open_writer(self, key: str):  # type: ignore[override]
        return self.inner.open_writer(key)

    def list(self, prefix: str = "") -> list[str]:
        return self.inner.list(prefix)

    def size(self, key: str) -> int:
        return self.inner.size(key)

    def delete(self, key: str) -> None:
        self.inner.delete(key)


class CountingStore(ForwardingStore):
    """Forwards to ``inner`` and records every read (zarr's LoggingStore idea)."""

    def __init__(self, inner: Store, coalesce_gap: int = 0) -> None:
        super().__init__(inner)
        self.coalesce_gap = coalesce_gap
        self.reads: list[Read] = []

    def bytes_read(self, part: str = "") -> int:
        return sum(r.nbytes for r in self.reads if part in r.key)

    def get(self, key: str) -> bytes:
        data = self.inner.get(key)
        self.reads.append(Read(key, 0, len(data), len(data)))
        return data

    def get_range(self, key: str, start: int, end: int) -> bytes:
        data = self.inner.get_range(key, start, end)
        self.reads.append(Read(key, start, end, len(data)))
        return data

    def get_ranges(self, key: str, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        return [self.get_range(key, a, b) for a, b in ranges]


class FailingStore(ForwardingStore):
    """Forwards to ``inner`` but fails the ``fail_at``-th write (0-based), counting puts,
    create-if-absent puts and streamed writes alike."""

    def __init__(self, inner: Store, fail_at: int) -> None:
        super().__init__(inner)
        self.fail_at = fail_at
        self.writes = 0
        self.log: list[str] = []

    def _tick(self, key: str) -> None:
        n, self.writes = self.writes, self.writes + 1
        self.log.append(key)
        if n == self.fail_at:
            raise StorageError(f"injected failure writing {key}")

    def put(self, key: str, data: bytes) -> None:
        self._tick(key)
        self.inner.put(key, data)

    def put_if_absent(self, key: str, data: bytes) -> None:
        self._tick(key)
        self.inner.put_if_absent(key, data)

    @contextmanager
    def open_writer(self, key: str) -> Iterator[BinaryIO]:
        with self.inner.open_writer(key) as f:
            yield f
            self._tick(key)  # fail after the data was written, before it is published
