"""Garbage collection: remove what no kept version needs (format_spec/log.md §9).

Steps, each safe to crash after: compact the newest version (a commit that changes no
sample); choose the kept versions, a suffix R..N; make R readable on its own (a
checkpoint) and record it (``log/gc.json``); then delete every object no kept version
reaches that is older than the safety window, versions first. An append in flight
writes its objects before its commit record, and they are younger than the window, so
it is never broken.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hubcli.core.lookup import SampleReader
from hubcli.core.versions import (
    checkpoint_versions,
    read_checkpoint,
    read_legacy_or_anchor,
    read_record,
    state_at,
)
from hubcli.errors import VersionError
from hubcli.format import keys
from hubcli.format.log import apply_record
from hubcli.format.manifest import dump_json, encode_state

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from hubcli.core.value_reader import ValueReader
    from hubcli.format.manifest import Manifest, TensorMeta
    from hubcli.storage.base import ObjectInfo, Store

DEFAULT_SAFETY_WINDOW = 3600.0
#: Never removed: the hint and the gc marker (small objects every reader may use).
_ALWAYS_KEPT = {keys.HINT_KEY, keys.GC_MARKER_KEY}
_VERSION_PREFIXES = (keys.VERSIONS_PREFIX, keys.LOG_PREFIX, keys.CHECKPOINTS_PREFIX)


@dataclass
class GcReport:
    """What gc kept and removed (``dry_run``: what it would remove)."""

    path: str
    newest: int
    oldest_kept: int
    compacted: bool = False
    dry_run: bool = False
    removed: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    spared_young: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "newest": self.newest,
            "oldest_kept": self.oldest_kept,
            "compacted": self.compacted,
            "dry_run": self.dry_run,
            "removed": self.removed,
            "objects_removed": len(self.removed),
            "bytes_freed": self.bytes_freed,
            "spared_young": len(self.spared_young),
        }


def collect(
    store: Store,
    newest: Manifest,
    readers: Callable[[TensorMeta], SampleReader | ValueReader],
    *,
    keep_versions: int | None = None,
    older_than: float | None = None,
    safety_window: float = DEFAULT_SAFETY_WINDOW,
    dry_run: bool = False,
    compacted: bool = False,
) -> GcReport:
    """Remove what the versions kept by the retention do not reach (``newest`` is the
    dataset's newest state, after any compaction)."""
    now = time.time()
    objects = [info for prefix in keys.FORMAT_PREFIXES for info in store.list_info(prefix)]
    oldest = _oldest_kept(newest, objects, keep_versions, older_than, now)
    report = GcReport(store.url, newest.version, oldest, compacted, dry_run)
    states = list(kept_states(store, newest, oldest))
    if not dry_run:
        _pin_oldest(store, states[0])
    reachable = reachable_keys(states, readers)
    for info in objects:
        if info.key in reachable or info.key in _ALWAYS_KEPT or _is_anchor(info.key, newest):
            continue
        if now - info.modified < safety_window:
            report.spared_young.append(info.key)
            continue
        report.removed.append(info.key)
        report.bytes_freed += info.size
    # Versions first (nothing depends on an old record once the checkpoint of R is
    # there), then what only they reached. One delete at a time: a crash between two
    # leaves garbage for the next run, never a kept version missing an object.
    report.removed.sort(key=lambda key: (not key.startswith(_VERSION_PREFIXES), key))
    if not dry_run:
        for key in report.removed:
            store.delete(key)
    return report


def _version_of(key: str) -> int | None:
    for parse in (keys.parse_version_key, keys.parse_record_key):
        version = parse(key)
        if version is not None:
            return version
    return None


def _oldest_kept(
    newest: Manifest,
    objects: list[ObjectInfo],
    keep_versions: int | None,
    older_than: float | None,
    now: float,
) -> int:
    """R: the oldest version the retention keeps (versions R..newest are kept)."""
    versions = {
        v: info.modified
        for info in objects
        if (v := _version_of(info.key)) is not None and v <= newest.version
    }
    if keep_versions is None and older_than is None:
        return min(versions, default=newest.version)
    oldest = newest.version
    if keep_versions is not None:
        oldest = min(oldest, max(0, newest.version - max(keep_versions, 1) + 1))
    if older_than is not None:
        young = [v for v, written in versions.items() if now - written <= older_than]
        oldest = min(oldest, min(young, default=newest.version))
    # Never before what still exists: a version gc removed earlier cannot come back.
    return max(oldest, min(versions, default=oldest))


def kept_states(store: Store, newest: Manifest, oldest: int) -> Iterator[Manifest]:
    """The state of every kept version, oldest first (a version gc already removed is
    skipped: only 1.0/1.1 manifests can be missing here)."""
    anchor = newest.anchor
    legacy_end = newest.version + 1 if anchor is None else anchor
    for version in range(oldest, legacy_end):
        try:
            yield read_legacy_or_anchor(store, version)
        except FileNotFoundError:
            continue
    if anchor is None:
        return
    start = max(oldest, anchor)
    try:
        state = (
            state_at(store, start, anchor)
            if start > anchor
            else read_legacy_or_anchor(store, anchor)
        )
    except FileNotFoundError:
        raise VersionError(f"{store.url}: the anchor manifest is missing") from None
    yield state
    while state.version < newest.version:
        record = read_record(store, state.version + 1)
        state = apply_record(state, record, store.describe(keys.record_key(record.version)))
        yield state


def _pin_oldest(store: Store, oldest: Manifest) -> None:
    """Make the oldest kept version readable without what gc deletes: a checkpoint of
    it (unless it is the anchor or a 1.x manifest, which are whole), then the marker."""
    whole = oldest.anchor is None or oldest.version == oldest.anchor
    if not whole and oldest.version not in checkpoint_versions(store):
        try:
            store.put_if_absent(keys.checkpoint_key(oldest.version), encode_state(oldest))
        except FileExistsError:
            read_checkpoint(store, oldest.version)  # another gc's: it must be sound
    store.put(keys.GC_MARKER_KEY, dump_json({"oldest": oldest.version}))


def reachable_keys(
    states: list[Manifest], readers: Callable[[TensorMeta], SampleReader | ValueReader]
) -> set[str]:
    """Every key the given states need: their manifests, records and checkpoints, the
    nodes and segments of their trees, and the chunks the segments name. A node is
    walked once whatever the number of states that share it."""
    found: set[str] = set()
    for state in states:
        found.update(
            (
                keys.version_key(state.version),
                keys.record_key(state.version),
                keys.checkpoint_key(state.version),
            )
        )
        for meta in state.tensors:
            reader = readers(meta)
            for key, entry in reader.tree.walk(skip=found):
                found.add(key)
                # Value segments name no chunks.
                if entry is not None and isinstance(reader, SampleReader):
                    found.update(c.key for c in reader.header(entry).chunks)
    return found


def _is_anchor(key: str, newest: Manifest) -> bool:
    return newest.anchor is not None and key == keys.version_key(newest.anchor)
