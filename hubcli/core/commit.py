"""Reading the newest version and committing a new one (format_spec/commit.md).

A commit writes every new chunk and segment first, then creates the next version's
manifest with create-if-absent. That one create is the commit: before it, nothing new
is visible; if another writer created that version first, the change is re-applied
to the newer manifest and tried again.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from hubcli.errors import ConflictError, CorruptDatasetError, DatasetNotFoundError
from hubcli.format import keys
from hubcli.format.limits import MAX_MANIFEST_BYTES
from hubcli.format.manifest import Manifest, encode_manifest, parse_manifest
from hubcli.format.version import check_writable, parse_format_version

if TYPE_CHECKING:
    from collections.abc import Callable

    from hubcli.storage.base import Store

MAX_COMMIT_ATTEMPTS = 20


def latest_version(store: Store) -> int | None:
    """The highest committed version, or None if the store holds no dataset."""
    versions = [
        v for k in store.list(keys.VERSIONS_PREFIX) if (v := keys.parse_version_key(k)) is not None
    ]
    return max(versions, default=None)


def read_manifest(store: Store, version: int) -> Manifest:
    key = keys.version_key(version)
    data = store.get_limited(key, MAX_MANIFEST_BYTES, "manifest")
    manifest = parse_manifest(data, store.describe(key))
    if manifest.version != version:
        raise CorruptDatasetError(f"{store.describe(key)}: holds version {manifest.version}")
    return manifest


def read_latest_manifest(store: Store) -> Manifest:
    version = latest_version(store)
    if version is None:
        store.check_root()
        raise DatasetNotFoundError(
            f"no hubcli dataset at {store.url}",
            hint=f"create one with: hubcli create {store.url} (Python: hubcli.empty)",
        )
    return read_manifest(store, version)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def commit(store: Store, base: Manifest, change: Callable[[Manifest], Manifest]) -> Manifest:
    """Write ``change(newest manifest)`` as the next version and return it.

    ``change`` must be a pure function of the manifest it is given: on a lost race it
    is called again with the winner's manifest. It may raise to abort.
    """
    manifest = _newest(store, base)
    for _ in range(MAX_COMMIT_ATTEMPTS):
        where = store.describe(keys.version_key(manifest.version))
        check_writable(parse_format_version(manifest.format_version, where), where)
        new = replace(change(manifest), version=manifest.version + 1, created_at=now())
        new = replace(new, format_version=_format_version(manifest, new))
        data, key = encode_manifest(new), keys.version_key(new.version)
        try:
            store.put_if_absent(key, data)
        except FileExistsError:
            # A retried create whose first attempt landed (its reply was lost) meets
            # its own manifest: bytes equal to ours (same timestamp and segment keys)
            # mean we won, not that someone else did.
            if _holds(store, key, data):
                return new
            manifest = _newest(store, manifest)
            continue
        return new
    raise ConflictError(
        f"{store.url}: gave up after {MAX_COMMIT_ATTEMPTS} commits by other writers won the race",
        hint="retry the operation",
    )


def _format_version(base: Manifest, new: Manifest) -> str:
    """The base's version, raised to what the new manifest needs (versioning.md §3): a
    1.0 dataset stays 1.0 until a 1.1 feature is used."""
    where = "manifest"
    version = max(parse_format_version(base.format_version, where), new.required_version())
    return f"{version[0]}.{version[1]}"


def _holds(store: Store, key: str, data: bytes) -> bool:
    try:
        return store.get(key) == data
    except FileNotFoundError:
        return False


def _newest(store: Store, base: Manifest) -> Manifest:
    """The newest manifest of the dataset ``base`` belongs to.

    Checked before every attempt: a writer whose dataset was replaced (overwrite) or
    removed must not commit on top of the new one.
    """
    # One small GET per commit: comparing version numbers alone would miss a dataset
    # that was replaced and has since reached the same version again.
    newest = read_latest_manifest(store)
    if newest.dataset_id != base.dataset_id or newest.version < base.version:
        raise ConflictError(
            f"{store.url}: the dataset was replaced or removed while it was open",
            hint="load it again, then retry",
        )
    return newest


def remove_dataset(store: Store) -> None:
    """Delete a dataset's keys, oldest version first: until the newest manifest goes, the
    dataset stays readable; after it, the leftovers are unreachable. Everything is
    listed before anything is deleted, so a listing that refuses an entry (a link, a
    special file) leaves the dataset whole."""
    doomed = store.list(keys.VERSIONS_PREFIX) + store.list(keys.TENSORS_PREFIX)
    for key in doomed:
        store.delete(key)
