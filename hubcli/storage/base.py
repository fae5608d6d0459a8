"""The Store interface every backend implements."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from hubcli.errors import CorruptDatasetError, StorageError

if TYPE_CHECKING:
    import builtins
    from collections.abc import Iterator, Sequence
    from contextlib import AbstractContextManager

_FORBIDDEN_SEGMENTS = {"", ".", ".."}


def check_key(key: str) -> str:
    """Refuse keys that could escape the store's root (absolute, '..', NUL, backslash)."""
    if (
        not isinstance(key, str)
        or key.startswith("/")
        or "\\" in key
        or "\x00" in key
        or any(part in _FORBIDDEN_SEGMENTS for part in key.split("/"))
    ):
        raise StorageError(f"invalid storage key {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """A prefix is '' (the whole store) or a key followed by '/'."""
    if prefix:
        check_key(prefix.rstrip("/"))
        if not prefix.endswith("/"):
            raise StorageError(f"invalid storage prefix {prefix!r}: must end with '/'")
    return prefix


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """A key, its size, and when its bytes were written (seconds since the epoch)."""

    key: str
    size: int
    modified: float


class Store(ABC):
    """Bytes under '/'-separated keys, relative to a root (a folder, a bucket prefix).

    Writes are atomic: a reader sees a key's old bytes or its new bytes, never a part.
    """

    #: Human-readable location of the root, used in messages (never holds secrets).
    url: str
    #: Reads whose gap is at most this many bytes are merged into one request.
    coalesce_gap: int = 1 << 20
    #: Whether a read waits on the network (readers then fetch ahead).
    remote: bool = False

    def describe(self, key: str) -> str:
        return f"{self.url.rstrip('/')}/{key}"

    def check_root(self) -> None:  # noqa: B027 - optional hook; local roots need no check
        """Raise a clear error if the place itself (a bucket) is missing. Called when no
        dataset is found, to tell "no dataset here" from "no such bucket"."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The whole value of ``key``."""

    def get_limited(self, key: str, limit: int, what: str) -> bytes:
        """The whole value of ``key``, refused if it is longer than ``limit`` (a format
        limit): one ranged read of at most ``limit + 1`` bytes, so a huge or endless
        object never fills memory."""
        data = self.get_range(key, 0, limit + 1)
        if len(data) > limit:
            raise CorruptDatasetError(
                f"{self.describe(key)}: the {what} is larger than the format's limit of "
                f"{limit} bytes"
            )
        return data

    @abstractmethod
    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of ``key``; shorter only if the value is shorter."""

    def get_ranges(self, key: str, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        """Several ranges of one key; backends may fetch them concurrently."""
        return [self.get_range(key, start, end) for start, end in ranges]

    @abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Create or atomically replace ``key``."""

    @abstractmethod
    def put_if_absent(self, key: str, data: bytes) -> None:
        """Create ``key``; raise ``FileExistsError`` if it exists. Atomic: of two
        concurrent callers exactly one succeeds."""

    @abstractmethod
    def open_writer(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A file to stream a large value into; ``key`` appears, whole, only when the
        ``with`` block exits without an exception."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Every key under ``prefix`` (recursively), sorted."""

    def list_info(self, prefix: str = "") -> builtins.list[ObjectInfo]:
        """Every key under ``prefix`` with its size and age. Stores that cannot tell the
        age report "now": garbage collection then spares everything (safe)."""
        now = time.time()
        return [ObjectInfo(key, self.size(key), now) for key in self.list(prefix)]

    @abstractmethod
    def size(self, key: str) -> int:
        """Length of the value of ``key``."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; no error if it is absent."""

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except FileNotFoundError:
            return False
        return True

    def delete_prefix(self, prefix: str) -> None:
        for key in self.list(prefix):
            self.delete(key)

    def iter_range(self, key: str, start: int, end: int, block: int = 1 << 20) -> Iterator[bytes]:
        """Bytes ``[start, end)`` in blocks, so large values stream in constant memory."""
        for pos in range(start, end, block):
            yield self.get_range(key, pos, min(pos + block, end))
