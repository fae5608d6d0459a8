"""Named credentials: which secrets a creds key has in this process and on this machine.

A dataset stores key *names* only (format_spec/links.md). Secrets come from
``populate_creds`` (this process), from the per-user store for managed keys, or from
the environment for the reserved key ``ENV``. Nothing here ever prints a secret:
``Secrets.__repr__`` redacts them.

The store, ``$XDG_CONFIG_HOME/hubcli/credentials.json`` (default ``~/.config``), keeps a
managed key's secrets under the dataset's id *and location* (its URL or real path): a
copy of a dataset elsewhere shows the same id, and must not get the owner's secrets to
read objects of its choosing. The store is trusted only as ssh trusts ``~/.ssh``: a
regular file, mode 0600, in a 0700 folder, both the user's own and neither a symbolic
link; anything else is refused, never used or repaired (a store others could read may
have leaked, one they could write may hold their entries: the user must look). Writers
take an exclusive ``flock`` on ``credentials.json.lock`` and re-read under it, then
replace the file atomically, so concurrent ``populate_creds`` calls all land.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets as _random
import stat
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from hubcli.errors import CredentialsError, HubcliWarning
from hubcli.format.names import CREDS_ENV_KEY, CREDS_KEY_RE
from hubcli.storage.credentials import ENV_FIELDS, SECRET_FIELDS, check_fields, fields_from_env
from hubcli.storage.credentials import Secrets as Secrets  # re-exported: core uses it

ENV = CREDS_ENV_KEY
#: The one rule for key names is the format's (format_spec/links.md).
KEY_NAME_RE = CREDS_KEY_RE
#: What a key's secrets may hold (storage/credentials.py lists the fields once).
FIELDS = SECRET_FIELDS


def check_key_name(name: object) -> str:
    if not isinstance(name, str) or not KEY_NAME_RE.fullmatch(name) or name == ENV:
        raise CredentialsError(
            f"invalid creds key name {name!r}",
            hint="use 1-64 letters, digits, '_', '-' or '.'; 'ENV' is reserved for the environment",
        )
    return name


def parse_secrets(creds: object, key: str) -> Secrets:
    """Validate a creds dict (as given to ``populate_creds``) without echoing values."""
    if not isinstance(creds, Mapping):
        raise CredentialsError(f"credentials for key {key!r} must be a dict of strings")
    check_fields(creds, FIELDS, f"key {key!r}")
    if not all(isinstance(v, str) and v for v in creds.values()):
        raise CredentialsError(f"credential fields for key {key!r} must be non-empty strings")
    if not creds:
        raise CredentialsError(
            f"no credential fields given for key {key!r}", hint=f"use: {', '.join(FIELDS)}"
        )
    return Secrets(creds)


def secrets_from_env(key: str) -> Secrets:
    """The credential fields set in this process's environment."""
    found = fields_from_env()
    if not found:
        raise CredentialsError(
            f"no credentials in the environment for key {key!r}",
            hint=f"set some of {', '.join(ENV_FIELDS)}",
        )
    return Secrets(found)


STORE_NAME = "credentials.json"
STORE_VERSION = 2
#: A store is a few kB; anything far larger is not one (and is not read into memory).
MAX_STORE_BYTES = 16 << 20
_SCHEMES = {"s3a": "s3", "gs": "gcs"}


def store_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "hubcli" / STORE_NAME


def location_of(dataset_url: str) -> str:
    """Where a dataset is, as its managed secrets are bound to it: its URL (``gs://``
    written ``gcs://``, no trailing ``/``), or for a local dataset its real path."""
    scheme, sep, rest = dataset_url.partition("://")
    if not sep:
        return os.path.realpath(dataset_url)
    scheme = scheme.lower()
    if scheme == "file":
        return os.path.realpath(rest)
    return f"{_SCHEMES.get(scheme, scheme)}://{rest.strip('/')}"


def load_managed(dataset_id: str, dataset_url: str, key: str) -> Secrets | None:
    """The stored secrets of a managed key of the dataset at ``dataset_url``, or None."""
    with _store_folder(create=False) as folder:
        data = _read(folder) if folder is not None else _empty()
    entry = _entries(data, dataset_id, location_of(dataset_url)).get(key)
    if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
        return None
    return Secrets(entry)


def save_managed(dataset_id: str, dataset_url: str, key: str, secrets: Mapping[str, str]) -> Path:
    """Store a managed key's secrets for this user, bound to the dataset's location."""
    location = location_of(dataset_url)
    with _store_folder(create=True) as folder:
        assert folder is not None  # created above
        with _locked(folder):
            data = _read(folder)  # under the lock: what other writers stored stays
            _bound_keys(data, dataset_id, location)[key] = dict(secrets)
            _write(folder, data)
    return store_path()


def remove_managed(dataset_id: str, dataset_url: str, key: str) -> bool:
    """Forget the stored secrets of key ``key`` of the dataset at ``dataset_url``;
    False if none were stored."""
    location = location_of(dataset_url)
    with _store_folder(create=False) as folder:
        if folder is None:
            return False
        with _locked(folder):
            data = _read(folder)
            stored = _entries(data, dataset_id, location)
            if key not in stored:
                return False
            del stored[key]
            _prune(data, dataset_id, location)
            _write(folder, data)
    return True


def clear_store() -> Path | None:
    """Forget every stored secret: the store is replaced by an empty one, whatever it
    held (even damaged, or written by another version). Returns its path, or None if
    there was no store."""
    with _store_folder(create=False) as folder:
        if folder is None:
            return None
        with _locked(folder):
            _write(folder, _empty())
    return store_path()


def _prune(data: dict[str, Any], dataset_id: str, location: str) -> None:
    """Drop the entries left empty by a removal."""
    by_location = data["datasets"].get(dataset_id)
    if isinstance(by_location, dict):
        if by_location.get(location) == {}:
            del by_location[location]
        if not by_location:
            del data["datasets"][dataset_id]


def _empty() -> dict[str, Any]:
    return {"version": STORE_VERSION, "datasets": {}}


def _bound_keys(data: dict[str, Any], dataset_id: str, location: str) -> dict[str, Any]:
    """The keys stored for the dataset at ``location``, made if missing (an entry of
    another shape is replaced)."""
    datasets = data["datasets"]
    if not isinstance(datasets.get(dataset_id), dict):
        datasets[dataset_id] = {}
    if not isinstance(datasets[dataset_id].get(location), dict):
        datasets[dataset_id][location] = {}
    keys: dict[str, Any] = datasets[dataset_id][location]
    return keys


def _entries(data: dict[str, Any], dataset_id: str, location: str) -> dict[str, Any]:
    by_location = data["datasets"].get(dataset_id)
    keys = by_location.get(location) if isinstance(by_location, dict) else None
    return keys if isinstance(keys, dict) else {}


# --- the store on disk: opened only through the folder's descriptor, never through a link


@contextmanager
def _store_folder(*, create: bool) -> Iterator[int | None]:
    """A descriptor of the store's folder, checked (None: no folder, and not ``create``).
    Every later open is relative to it, so a folder swapped for a link afterwards is
    never followed."""
    folder = store_path().parent
    if create:
        folder.parent.mkdir(parents=True, exist_ok=True)
        with suppress(FileExistsError):
            os.mkdir(folder, 0o700)
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        fd = None
    except OSError as exc:
        raise _open_failure(folder, exc) from None
    if fd is None:
        yield None
        return
    try:
        _check_private(folder, os.fstat(fd), folder=True)
        yield fd
    finally:
        os.close(fd)


@contextmanager
def _locked(folder: int) -> Iterator[None]:
    """An exclusive lock on ``credentials.json.lock`` beside the store."""
    name = f"{STORE_NAME}.lock"
    path = store_path().with_name(name)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        fd = os.open(name, flags, 0o600, dir_fd=folder)
    except OSError as exc:
        raise _open_failure(path, exc) from None
    try:
        _check_private(path, os.fstat(fd), folder=False)
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _read(folder: int) -> dict[str, Any]:
    path = store_path()
    try:
        # O_NONBLOCK: a FIFO put in its place must not hang the open.
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
        fd = os.open(STORE_NAME, flags, dir_fd=folder)
    except FileNotFoundError:
        return _empty()
    except OSError as exc:
        raise _open_failure(path, exc) from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        _check_private(path, info, folder=False)
        raw = f.read(MAX_STORE_BYTES + 1)
    return _parse(path, raw)


def _parse(path: Path, raw: bytes) -> dict[str, Any]:
    damaged = CredentialsError(
        f"the credential store {path} is damaged", hint="remove it and populate the keys again"
    )
    if len(raw) > MAX_STORE_BYTES:
        raise damaged
    try:
        data = json.loads(raw)
    except ValueError:
        raise damaged from None
    if not isinstance(data, dict) or not isinstance(data.get("datasets"), dict):
        raise damaged
    version = data.get("version")
    if version == 1:
        return _legacy(path, data)
    if version != STORE_VERSION:
        raise CredentialsError(
            f"the credential store {path} has version {version!r}; this hubcli reads "
            f"version {STORE_VERSION}",
            hint="use the hubcli that wrote it, or remove the file and populate the keys again",
        )
    return data


def _legacy(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """A store of hubcli 0.2: secrets bound to a dataset id only, which any copy of the
    dataset shows. They are not used (nor kept at the next write): said once."""
    if data["datasets"]:
        warnings.warn(
            f"the credential store {path} was written by hubcli 0.2: its secrets are not "
            "bound to a dataset's location and are no longer used; populate the managed "
            "keys again (hubcli creds populate DATASET KEY)",
            HubcliWarning,
            stacklevel=2,
        )
    return _empty()


def _write(folder: int, data: dict[str, Any]) -> None:
    """Replace the store atomically: a 0600 temp file beside it, fsynced, renamed."""
    temp = f".{STORE_NAME}.{_random.token_hex(6)}.partial"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(temp, flags, 0o600, dir_fd=folder)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, STORE_NAME, src_dir_fd=folder, dst_dir_fd=folder)
        os.fsync(folder)  # the rename itself survives a crash
    finally:
        with suppress(FileNotFoundError):
            os.unlink(temp, dir_fd=folder)


def _check_private(path: Path, info: os.stat_result, *, folder: bool) -> None:
    """Refuse what is not the user's own private file (mode 0600) or folder (0700)."""
    kind, mode = ("folder", 0o700) if folder else ("file", 0o600)
    if not (stat.S_ISDIR if folder else stat.S_ISREG)(info.st_mode):
        raise _refused(path, f"is not a regular {kind}", "remove it")
    if info.st_uid != os.geteuid():
        raise _refused(
            path,
            f"belongs to another user (uid {info.st_uid})",
            "remove it, or point XDG_CONFIG_HOME at a folder of your own",
        )
    loose = stat.S_IMODE(info.st_mode) & 0o077
    if loose:
        raise _refused(
            path,
            f"is open to other users (mode {stat.S_IMODE(info.st_mode):o})",
            f"run: chmod {mode:o} {path}, and replace its secrets if others could read them",
        )


def _open_failure(path: Path, exc: OSError) -> CredentialsError:
    # O_NOFOLLOW on a link: ELOOP (ENOTDIR when O_DIRECTORY is checked first).
    if path.is_symlink():
        return _refused(path, "is a symbolic link", "remove the link; hubcli makes its own")
    if exc.errno == errno.ENOTDIR:
        return _refused(path, "is not a folder", "remove it; hubcli makes its own")
    return CredentialsError(
        f"the credential store {path} cannot be opened ({exc.strerror})",
        hint="check its permissions, or remove it and populate the keys again",
    )


def _refused(path: Path, problem: str, fix: str) -> CredentialsError:
    return CredentialsError(f"refusing the credential store: {path} {problem}", hint=fix)
