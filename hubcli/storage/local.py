"""A store in a local folder, with atomic writes and create-if-absent (format_spec/commit.md)."""

from __future__ import annotations

import os
import secrets
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from hubcli.errors import HubcliError, StorageError
from hubcli.storage.base import Store, check_key, check_prefix

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

_TEMP_SUFFIX = ".partial"


class LocalStore(Store):
    """Keys are files under ``root``. A write goes to ``.<name>.<random>.partial`` in the
    same folder, is fsynced, then renamed (replace) or hard-linked (create-if-absent)
    into place: rename/link are atomic on POSIX, so readers never see a torn file."""

    coalesce_gap = 1 << 20

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).absolute()
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    @contextmanager
    def _reading(self, key: str) -> Iterator[None]:
        try:
            yield
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise FileNotFoundError(self.describe(key)) from None
        except OSError as exc:
            raise StorageError(f"cannot read {self.describe(key)}: {exc.strerror}") from exc

    def get(self, key: str) -> bytes:
        with self._reading(key):
            return self._path(key).read_bytes()

    def get_range(self, key: str, start: int, end: int) -> bytes:
        return self.get_ranges(key, [(start, end)])[0]

    def get_ranges(self, key: str, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        out = []
        with self._reading(key), open(self._path(key), "rb") as f:  # one open for all ranges
            for start, end in ranges:
                f.seek(start)
                out.append(f.read(max(0, end - start)))
        return out

    def put(self, key: str, data: bytes) -> None:
        with self.open_writer(key) as f:
            f.write(data)

    def put_if_absent(self, key: str, data: bytes) -> None:
        path = self._path(key)
        with self._temp_file(path) as (temp, f):
            f.write(data)
            _sync(f)
            try:
                # link(2) fails with EEXIST if the name exists: an atomic create-if-absent,
                # unlike rename(2), which silently replaces on POSIX.
                os.link(temp, path)
            except FileExistsError:
                raise FileExistsError(self.describe(key)) from None
            except OSError as exc:
                raise StorageError(f"cannot write {self.describe(key)}: {exc.strerror}") from exc
        _sync_dir(path.parent)

    @contextmanager
    def open_writer(self, key: str) -> Iterator[BinaryIO]:
        path = self._path(key)
        with self._temp_file(path) as (temp, f):
            yield f
            _sync(f)
            try:
                os.replace(temp, path)
            except OSError as exc:
                raise StorageError(f"cannot write {self.describe(key)}: {exc.strerror}") from exc
        _sync_dir(path.parent)

    @contextmanager
    def _temp_file(self, path: Path) -> Iterator[tuple[Path, BinaryIO]]:
        """A temp file beside ``path``; always removed on the way out (a successful
        write has linked or renamed it into place first)."""
        temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}{_TEMP_SUFFIX}")
        try:
            _make_dirs(path.parent)
            f = open(temp, "xb")  # noqa: SIM115 - closed in the finally below
        except OSError as exc:
            raise StorageError(f"cannot write {path}: {exc.strerror}") from exc
        try:
            with f:
                yield temp, f
        except OSError as exc:
            # Disk errors while writing become ours; errors of the caller's own making
            # (a missing source, a lost create race) pass through unchanged.
            if isinstance(exc, (FileExistsError, HubcliError)):
                raise
            raise StorageError(f"cannot write {path}: {exc.strerror}") from exc
        finally:
            temp.unlink(missing_ok=True)

    def list(self, prefix: str = "") -> list[str]:
        check_prefix(prefix)
        base = self.root.joinpath(*prefix.rstrip("/").split("/")) if prefix else self.root
        if not base.is_dir():
            return []
        keys: list[str] = []
        for dirpath, _, filenames in os.walk(base):
            rel = Path(dirpath).relative_to(self.root).as_posix()
            keys.extend(name if rel == "." else f"{rel}/{name}" for name in filenames)
        return sorted(keys)

    def size(self, key: str) -> int:
        path = self._path(key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise FileNotFoundError(self.describe(key)) from None
        if not stat.S_ISREG(st.st_mode):
            raise FileNotFoundError(self.describe(key))
        return st.st_size

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot delete {self.describe(key)}: {exc.strerror}") from exc
        # Folders are implicit in a key-value store: drop the ones this emptied.
        for parent in path.parents:
            if parent == self.root or not parent.is_relative_to(self.root):
                break
            try:
                parent.rmdir()
            except OSError:
                break


def _make_dirs(folder: Path) -> None:
    """Create ``folder`` and missing parents, each made durable in its parent: a new
    chunk's folder entry must survive a power cut as surely as the chunk."""
    if folder.is_dir():
        return
    _make_dirs(folder.parent)
    try:
        folder.mkdir()
    except FileExistsError:
        return
    _sync_dir(folder.parent)


def _sync(f: BinaryIO) -> None:
    """Data reaches the disk before the name does, so a power cut cannot leave a
    committed manifest pointing at an empty chunk."""
    f.flush()
    os.fsync(f.fileno())


def _sync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
