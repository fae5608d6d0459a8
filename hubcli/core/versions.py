"""Finding versions: the newest one (through the hint), and any older one (through
checkpoints and commit records), without listing every version (format_spec/log.md
§5-§7). Legacy 1.0/1.1 datasets are read from their manifests as before.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hubcli.errors import CorruptDatasetError, DatasetNotFoundError, VersionError
from hubcli.format import keys
from hubcli.format.limits import MAX_MANIFEST_BYTES, MAX_VERSION
from hubcli.format.log import Record, apply_record, parse_record
from hubcli.format.manifest import Manifest, load_json, parse_manifest, parse_state
from hubcli.format.validate import as_map, non_negative

if TYPE_CHECKING:
    from hubcli.storage.base import Store

log = logging.getLogger("hubcli.versions")


def read_json_object(store: Store, key: str, what: str) -> bytes:
    return store.get_limited(key, MAX_MANIFEST_BYTES, what)


def read_legacy_or_anchor(store: Store, version: int) -> Manifest:
    """The manifest at ``versions/<version>.json`` (a 1.0/1.1 manifest, or the anchor's state)."""
    key = keys.version_key(version)
    manifest = parse_manifest(read_json_object(store, key, "manifest"), store.describe(key))
    if manifest.version != version:
        raise CorruptDatasetError(f"{store.describe(key)}: holds version {manifest.version}")
    return manifest


def read_record(store: Store, version: int) -> Record:
    key = keys.record_key(version)
    return parse_record(read_json_object(store, key, "commit record"), version, store.describe(key))


def manifest_versions(store: Store) -> list[int]:
    """Versions with a manifest under ``versions/`` (1.0/1.1 manifests and the anchor)."""
    return sorted(
        v for k in store.list(keys.VERSIONS_PREFIX) if (v := keys.parse_version_key(k)) is not None
    )


def dataset_exists(store: Store) -> bool:
    return bool(manifest_versions(store))


def read_head(store: Store, use_hint: bool = True) -> Manifest:
    """The newest version: through the hint when it is usable (2 requests when it is
    current), else by listing ``versions/``, ``log/`` and ``checkpoints/``."""
    hint = _read_hint(store) if use_hint else None
    if hint is not None:
        return replay_forward(store, hint)
    return _head_by_listing(store)


def _read_hint(store: Store) -> Manifest | None:
    try:
        data = read_json_object(store, keys.HINT_KEY, "hint")
        return parse_state(data, store.describe(keys.HINT_KEY))
    except FileNotFoundError:
        return None
    except CorruptDatasetError as exc:
        # A hint is a cache: damaged contents cost a listing, not the dataset. (A link or
        # a special file in its place, or a failing store, is an error like any other.)
        log.debug("ignoring the hint: %s", exc)
        return None


def replay_forward(store: Store, state: Manifest) -> Manifest:
    """``state`` with every later record applied, up to the first missing one."""
    while state.version < MAX_VERSION:  # the last version has no successor
        try:
            record = read_record(store, state.version + 1)
        except FileNotFoundError:
            return state
        state = apply_record(state, record, store.describe(keys.record_key(record.version)))
    return state


def _head_by_listing(store: Store) -> Manifest:
    versions = manifest_versions(store)
    if not versions:
        store.check_root()
        raise DatasetNotFoundError(
            f"no hubcli dataset at {store.url}",
            hint=f"create one with: hubcli create {store.url} (Python: hubcli.empty)",
        )
    newest = read_legacy_or_anchor(store, versions[-1])
    if newest.anchor is None:
        return newest  # a 1.0/1.1 dataset
    last = max(record_versions(store), default=newest.version)
    return replay_forward(store, state_at(store, max(last, newest.version), newest.version))


def record_versions(store: Store) -> list[int]:
    return sorted(
        v for k in store.list(keys.LOG_PREFIX) if (v := keys.parse_record_key(k)) is not None
    )


def checkpoint_versions(store: Store) -> list[int]:
    return sorted(
        v
        for k in store.list(keys.CHECKPOINTS_PREFIX)
        if (v := keys.parse_checkpoint_key(k)) is not None
    )


def read_checkpoint(store: Store, version: int) -> Manifest:
    key = keys.checkpoint_key(version)
    state = parse_state(read_json_object(store, key, "checkpoint"), store.describe(key))
    if state.version != version:
        raise CorruptDatasetError(f"{store.describe(key)}: holds version {state.version}")
    return state


def state_at(store: Store, version: int, anchor: int) -> Manifest:
    """The state of ``version`` (> anchor): the newest checkpoint at or before it (or the
    anchor), with the records after it applied."""
    base_version = max(
        (c for c in checkpoint_versions(store) if anchor <= c <= version), default=None
    )
    state = (
        read_checkpoint(store, base_version)
        if base_version is not None
        else read_legacy_or_anchor(store, anchor)
    )
    while state.version < version:
        try:
            record = read_record(store, state.version + 1)
        except FileNotFoundError:
            raise _removed(store, state.version + 1) from None
        state = apply_record(state, record, store.describe(keys.record_key(record.version)))
    return state


def read_version(store: Store, version: int) -> Manifest:
    """The state of any version that garbage collection kept (time travel)."""
    head = read_head(store)
    if not 0 <= version <= head.version:
        raise VersionError(
            f"{store.url} has no version {version}; its newest is {head.version}",
            hint="hubcli log DATASET lists the versions",
        )
    if version == head.version:
        return head
    oldest = oldest_kept(store)
    if oldest is not None and version < oldest:
        raise _removed(store, version)
    if head.anchor is None or version <= head.anchor:
        try:
            return read_legacy_or_anchor(store, version)
        except FileNotFoundError:
            raise _removed(store, version) from None
    return state_at(store, version, head.anchor)


def oldest_kept(store: Store) -> int | None:
    """The oldest version garbage collection kept (``log/gc.json``), if it ever ran."""
    try:
        data = read_json_object(store, keys.GC_MARKER_KEY, "gc marker")
    except FileNotFoundError:
        return None
    where = store.describe(keys.GC_MARKER_KEY)
    return non_negative(as_map(load_json(data, where), where), "oldest", where)


def _removed(store: Store, version: int) -> VersionError:
    oldest = oldest_kept(store)
    kept = f"; the oldest version kept is {oldest}" if oldest is not None else ""
    return VersionError(
        f"version {version} of {store.url} was removed by garbage collection{kept}",
        hint="hubcli log DATASET lists the versions that are kept",
    )
