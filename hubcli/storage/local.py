"""A store in a local folder, with atomic writes and create-if-absent (format_spec/commit.md).

A dataset folder is hostile input (it may come from a tarball or a shared folder), so
every entry under the root is reached one path component at a time, relative to its
parent's file descriptor, with ``O_NOFOLLOW``: a symbolic link or a special file
(FIFO, socket, device) anywhere under the root is refused with a one-line
:class:`~hubcli.errors.UnsafeEntryError` naming it, for reads, writes, listings and
deletes alike (format_spec/layout.md §4). Nothing outside the root is ever read,
written or removed through the store, and no read blocks on a FIFO.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from hubcli.errors import HubcliError, StorageError, UnsafeEntryError
from hubcli.storage.base import ObjectInfo, Store, check_key, check_prefix

if TYPE_CHECKING:
    import builtins
    from collections.abc import Iterator, Sequence

_TEMP_SUFFIX = ".partial"
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
# O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused right after).
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | _CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _CLOEXEC


class LocalStore(Store):
    """Keys are files under ``root``. A write goes to ``.<name>.<random>.partial`` in the
    same folder, is fsynced, then renamed (replace) or hard-linked (create-if-absent)
    into place: rename/link are atomic on POSIX, so readers never see a torn file.

    The root itself may be reached through symbolic links (the user chose that path);
    nothing below it is."""

    coalesce_gap = 1 << 20

    def __init__(self, root: str | os.PathLike[str]) -> None:
        text = os.fspath(root)
        if "\x00" in text:
            raise StorageError(f"invalid dataset path {text!r}: it holds a NUL byte")
        self.root = Path(text).absolute()
        self.url = str(self.root)

    # --- walking the tree without following links ---------------------------------------
    def _unsafe(self, rel: str, st: os.stat_result) -> UnsafeEntryError:
        where = self.describe(rel) if rel else self.url
        if stat.S_ISLNK(st.st_mode):
            return UnsafeEntryError(
                f"{where}: is a symbolic link; hubcli never follows links inside a dataset",
                hint="replace it with the real file or folder (cp -a --dereference), or remove it",
            )
        return UnsafeEntryError(
            f"{where}: is a {_kind(st.st_mode)}, not a regular file or folder",
            hint="remove it; a dataset holds only regular files and folders",
        )

    def _open_root(self, create: bool) -> int:
        try:
            return os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
        except FileNotFoundError:
            if not create:
                raise
        except NotADirectoryError:
            if not create:
                raise FileNotFoundError(self.url) from None
            raise StorageError(
                f"cannot create a dataset at {self.url}: it is a file", hint="choose a folder"
            ) from None
        except OSError as exc:
            raise self._os_error("open", "", exc) from None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            return os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
        except OSError as exc:
            raise self._os_error("create", "", exc) from None

    @contextmanager
    def _folder(self, parts: Sequence[str], *, create: bool = False) -> Iterator[int]:
        """A descriptor of the folder ``root/parts...``, each component opened relative to
        its parent with ``O_NOFOLLOW``; missing folders are made (durably) if ``create``.
        Raises FileNotFoundError if a component is missing (or a regular file)."""
        fd = self._open_root(create)
        try:
            for depth, name in enumerate(parts):
                child = self._open_child_folder(fd, name, "/".join(parts[: depth + 1]), create)
                os.close(fd)
                fd = child
            yield fd
        finally:
            os.close(fd)

    def _open_child_folder(self, parent: int, name: str, rel: str, create: bool) -> int:
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise self._os_error("open", rel, exc) from None
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            if stat.S_ISREG(st.st_mode):
                raise FileNotFoundError(self.describe(rel)) from None
            raise self._unsafe(rel, st) from None
        try:
            os.mkdir(name, dir_fd=parent)
            _sync_fd(parent)  # the new folder's entry must survive a power cut
        except FileExistsError:
            pass  # made by a concurrent writer: fine, opened (and checked) below
        except OSError as exc:
            raise self._os_error("create", rel, exc) from None
        return self._open_child_folder(parent, name, rel, create=False)

    def _split(self, key: str) -> tuple[list[str], str]:
        *folders, name = check_key(key).split("/")
        return folders, name

    def _check_entry(self, parent: int, name: str, key: str) -> os.stat_result:
        """lstat an entry; a folder is "no such key", a link or special file is refused."""
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            raise FileNotFoundError(self.describe(key))
        if not stat.S_ISREG(st.st_mode):
            raise self._unsafe(key, st)
        return st

    @contextmanager
    def _open_file(self, key: str) -> Iterator[tuple[int, int]]:
        """``(fd, size)`` of the regular file at ``key``, opened without following links
        and checked again after opening (the entry could be swapped in between)."""
        folders, name = self._split(key)
        try:
            with self._folder(folders) as parent:
                self._check_entry(parent, name, key)
                fd = os.open(name, _READ_FLAGS, dir_fd=parent)
        except (FileNotFoundError, NotADirectoryError):
            raise FileNotFoundError(self.describe(key)) from None
        except OSError as exc:
            if isinstance(exc, HubcliError):
                raise
            if exc.errno == errno.ELOOP:
                raise UnsafeEntryError(
                    f"{self.describe(key)}: is a symbolic link; hubcli never follows links "
                    "inside a dataset"
                ) from None
            raise self._os_error("read", key, exc) from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise self._unsafe(key, st)
            yield fd, st.st_size
        finally:
            os.close(fd)

    def _os_error(self, action: str, key: str, exc: OSError) -> StorageError:
        where = self.describe(key) if key else self.url
        if exc.errno == errno.ENAMETOOLONG:
            return StorageError(f"cannot {action} {where}: the name is too long for this system")
        return StorageError(f"cannot {action} {where}: {exc.strerror or exc}")

    # --- reads ------------------------------------------------------------------------------
    def get(self, key: str) -> bytes:
        with self._open_file(key) as (fd, size):
            return _pread_all(fd, 0, size)

    def get_range(self, key: str, start: int, end: int) -> bytes:
        return self.get_ranges(key, [(start, end)])[0]

    def get_ranges(self, key: str, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        # One open for all ranges. Each read is clamped to the file's real size, so a
        # range declared by a damaged index never allocates more than the file holds.
        with self._open_file(key) as (fd, size):
            try:
                return [_pread_all(fd, start, min(end, size)) for start, end in ranges]
            except OSError as exc:
                raise self._os_error("read", key, exc) from None

    def size(self, key: str) -> int:
        folders, name = self._split(key)
        try:
            with self._folder(folders) as parent:
                return self._check_entry(parent, name, key).st_size
        except (FileNotFoundError, NotADirectoryError):
            raise FileNotFoundError(self.describe(key)) from None
        except OSError as exc:
            if isinstance(exc, HubcliError):
                raise
            raise self._os_error("read", key, exc) from None

    def list(self, prefix: str = "") -> list[str]:
        return [info.key for info in self.list_info(prefix)]

    def list_info(self, prefix: str = "") -> builtins.list[ObjectInfo]:
        check_prefix(prefix)
        parts = prefix.rstrip("/").split("/") if prefix else []
        keys: builtins.list[ObjectInfo] = []
        try:
            with self._folder(parts) as fd:
                self._walk(fd, prefix, keys)
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            if isinstance(exc, HubcliError):
                raise
            raise self._os_error("list", prefix, exc) from None
        return sorted(keys, key=lambda info: info.key)

    def _walk(self, fd: int, rel: str, keys: builtins.list[ObjectInfo]) -> None:
        """Every regular file under the folder ``fd`` (at ``rel``), refusing links and
        special files rather than skipping them: a listing feeds deletes."""
        with os.scandir(fd) as entries:  # scandir works on a duplicate of fd
            children = list(entries)
        for entry in children:
            key = f"{rel}{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                child = self._open_child_folder(fd, entry.name, key, create=False)
                try:
                    self._walk(child, f"{key}/", keys)
                finally:
                    os.close(child)
            elif entry.is_file(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                keys.append(ObjectInfo(key, st.st_size, st.st_mtime))
            else:
                raise self._unsafe(key, entry.stat(follow_symlinks=False))

    # --- writes -----------------------------------------------------------------------------
    def put(self, key: str, data: bytes) -> None:
        with self.open_writer(key) as f:
            f.write(data)

    def put_if_absent(self, key: str, data: bytes) -> None:
        with self._temp_file(key) as (parent, temp, name, f):
            f.write(data)
            _sync(f)
            try:
                # link(2) fails with EEXIST if the name exists: an atomic create-if-absent,
                # unlike rename(2), which silently replaces on POSIX.
                os.link(temp, name, src_dir_fd=parent, dst_dir_fd=parent, follow_symlinks=False)
            except FileExistsError:
                raise FileExistsError(self.describe(key)) from None
            except OSError as exc:
                raise self._os_error("write", key, exc) from None
            _sync_fd(parent)

    @contextmanager
    def open_writer(self, key: str) -> Iterator[BinaryIO]:
        with self._temp_file(key) as (parent, temp, name, f):
            yield f
            _sync(f)
            try:
                # rename(2) replaces the entry itself, never what a link points at.
                os.replace(temp, name, src_dir_fd=parent, dst_dir_fd=parent)
            except OSError as exc:
                raise self._os_error("write", key, exc) from None
            _sync_fd(parent)

    @contextmanager
    def _temp_file(self, key: str) -> Iterator[tuple[int, str, str, BinaryIO]]:
        """``(folder fd, temp name, final name, file)``: a temp file beside ``key``,
        always removed on the way out (a successful write has linked or renamed it into
        place first)."""
        folders, name = self._split(key)
        temp = f".{name}.{secrets.token_hex(8)}{_TEMP_SUFFIX}"
        with self._folder(folders, create=True) as parent:
            try:
                fd = os.open(temp, _CREATE_FLAGS, 0o666, dir_fd=parent)
            except OSError as exc:
                raise self._os_error("write", key, exc) from None
            try:
                with os.fdopen(fd, "wb") as f:
                    yield parent, temp, name, f
            except OSError as exc:
                # Disk errors while writing become ours; errors of the caller's own making
                # (a missing source, a lost create race) pass through unchanged.
                if isinstance(exc, (FileExistsError, HubcliError)):
                    raise
                raise self._os_error("write", key, exc) from exc
            finally:
                with suppress(FileNotFoundError):
                    os.unlink(temp, dir_fd=parent)

    def delete(self, key: str) -> None:
        folders, name = self._split(key)
        try:
            with self._folder(folders) as parent:
                try:
                    self._check_entry(parent, name, key)
                except FileNotFoundError:
                    return
                os.unlink(name, dir_fd=parent)
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            if isinstance(exc, HubcliError):
                raise
            raise self._os_error("delete", key, exc) from None
        self._drop_empty_folders(folders)

    def _drop_empty_folders(self, folders: Sequence[str]) -> None:
        """Folders are implicit in a key-value store: drop the ones a delete emptied."""
        for depth in range(len(folders), 0, -1):
            try:
                with self._folder(folders[: depth - 1]) as parent:
                    os.rmdir(folders[depth - 1], dir_fd=parent)
            except OSError:
                return


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device file"
    return "special file"


def _pread_all(fd: int, start: int, end: int) -> bytes:
    """Bytes ``[start, end)`` of ``fd`` (shorter only at the end of the file)."""
    if end <= start:
        return b""
    parts, position = [], start
    while position < end:
        block = os.pread(fd, end - position, position)
        if not block:
            break
        parts.append(block)
        position += len(block)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _sync(f: BinaryIO) -> None:
    """Data reaches the disk before the name does, so a power cut cannot leave a
    committed manifest pointing at an empty chunk."""
    f.flush()
    os.fsync(f.fileno())


def _sync_fd(fd: int) -> None:
    with suppress(OSError):
        os.fsync(fd)
