"""Committing a change (format_spec/commit.md, format_spec/log.md).

A commit writes every new object first (chunks, segments, nodes), then creates the
next version's commit record with create-if-absent: that create is the commit. On a
1.0/1.1 dataset the first commit creates the anchor manifest instead (the upgrade). If
another writer created that version first, the change is planned again on the newer
state and tried again. After a commit, the hint (and every 256th version, a
checkpoint) is written; both are caches that readers can do without.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from hubcli.core.versions import oldest_kept, read_head
from hubcli.errors import ConflictError, HubcliError, StorageError
from hubcli.format import keys
from hubcli.format.layout import Node, build_layout
from hubcli.format.log import Op, Record, apply_record, encode_record, required_version
from hubcli.format.manifest import Manifest, TensorMeta, encode_anchor, encode_state
from hubcli.format.nodes import encode_node
from hubcli.format.version import check_writable, parse_format_version

if TYPE_CHECKING:
    from hubcli.storage.base import Store

log = logging.getLogger("hubcli.commit")

MAX_COMMIT_ATTEMPTS = 20
#: A checkpoint is written at every version that is a multiple of this.
CHECKPOINT_INTERVAL = 256


@dataclass
class Plan:
    """What a change does to one state: its ops, and the node objects they need
    written before the record that names them (``(key, bytes)``)."""

    ops: list[Op]
    objects: list[tuple[str, bytes]] = field(default_factory=list)


#: Plans a change on the newest state; called again on the winner's state after a
#: lost race, so it must depend on nothing but the state it is given.
Change = Callable[[Manifest], Plan]


@dataclass
class Written:
    """Keys a writer created, and the commit records it tried, so that a failed
    operation can remove its own objects unless they were committed after all."""

    keys: list[str] = field(default_factory=list)
    attempts: list[tuple[str, bytes]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)


#: An operation that wrote objects longer ago than this checks that they all still
#: exist before it commits: gc spares objects younger than its safety window (1 hour
#: by default), and a commit must never name an object gc removed meanwhile.
RECHECK_AFTER_SECONDS = 300.0


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def node_objects(tensor: TensorMeta, nodes: Sequence[tuple[str, Node]]) -> list[tuple[str, bytes]]:
    return [(keys.node_key(tensor.dir, node_id), encode_node(node)) for node_id, node in nodes]


def commit(
    store: Store,
    base: Manifest,
    change: Change,
    *,
    written: Written | None = None,
    message: str | None = None,
) -> Manifest:
    """Commit ``change`` on top of the newest version and return the new state."""
    written = written or Written()
    state = _newest(store, base)
    for _ in range(MAX_COMMIT_ATTEMPTS):
        where = store.describe(keys.version_key(state.version))
        check_writable(parse_format_version(state.format_version, where), where)
        upgrading = state.anchor is None
        if upgrading:
            state = _resealed(state, written, store)
        plan = change(state)
        if not plan.ops:
            return state  # nothing to change: no version is made
        _check_still_there(store, written)
        for key, data in plan.objects:
            written.keys.append(key)
            store.put(key, data)
        record = Record(state.version + 1, now(), tuple(plan.ops), message)
        new = apply_record(state, record, f"commit of version {record.version}")
        # A record that a 1.2 reader cannot apply says which format it needs.
        record = replace(record, format_version=required_version(new))
        if upgrading:
            new = replace(new, anchor=new.version, format_version=new.format_version)
            key, data = keys.version_key(new.version), encode_anchor(new)
        else:
            key, data = keys.record_key(new.version), encode_record(record)
        written.attempts.append((key, data))
        try:
            store.put_if_absent(key, data)
        except FileExistsError:
            # A retried create whose first attempt landed (its reply was lost) meets
            # its own record: bytes equal to ours (same time and object ids) mean we won.
            if not holds(store, key, data):
                state = _newest(store, state)
                continue
        _after_commit(store, new)
        return new
    raise ConflictError(
        f"{store.url}: gave up after {MAX_COMMIT_ATTEMPTS} commits by other writers won the race",
        hint="retry the operation",
    )


def _check_still_there(store: Store, written: Written) -> None:
    if time.monotonic() - written.started < RECHECK_AFTER_SECONDS:
        return
    for key in written.keys:
        if not store.exists(key):
            raise ConflictError(
                f"{store.describe(key)}, written by this operation, was removed before it "
                "could commit (a gc with a safety window shorter than this operation?)",
                hint="retry the operation; give gc a longer --safety-window",
            )


def _resealed(state: Manifest, written: Written, store: Store) -> Manifest:
    """A 1.0/1.1 state as the anchor will hold it: each tensor's segment references
    sealed into nodes (written now), so the state stays small whatever the history."""
    from hubcli.format.keys import new_object_id

    tensors = []
    for meta in state.tensors:
        entries = [e for level in reversed(meta.layout.spine) for e in level]
        layout, nodes = build_layout(entries, meta.fanout, new_object_id)  # type: ignore[arg-type]
        for key, data in node_objects(meta, nodes):
            written.keys.append(key)
            store.put(key, data)
        tensors.append(replace(meta, layout=layout))
    return replace(state, tensors=tuple(tensors), format_version="1.2", anchor=state.version)


def _after_commit(store: Store, new: Manifest) -> None:
    """The hint, and at every CHECKPOINT_INTERVAL-th version a checkpoint. Both are
    caches: failing to write them loses nothing, so it fails nothing."""
    data = encode_state(new)
    try:
        # A hint older than a record that exists would send readers back in time; and
        # if gc later removed that record's predecessors, a writer trusting the hint
        # would fork the log. So a writer that was overtaken leaves the hint alone.
        if store.exists(keys.record_key(new.version + 1)):
            return
        store.put(keys.HINT_KEY, data)
        if new.version % CHECKPOINT_INTERVAL == 0 and new.version != new.anchor:
            with contextlib.suppress(FileExistsError):
                store.put_if_absent(keys.checkpoint_key(new.version), data)
    except (HubcliError, OSError) as exc:
        log.debug("could not write the hint or checkpoint of version %d: %s", new.version, exc)


def holds(store: Store, key: str, data: bytes) -> bool:
    try:
        return store.get(key) == data
    except FileNotFoundError:
        return False


def _newest(store: Store, base: Manifest) -> Manifest:
    """The newest state of the dataset ``base`` belongs to.

    Checked before every attempt: a writer whose dataset was replaced (overwrite) or
    removed must not commit on top of the new one.
    """
    newest = read_head(store)
    oldest = oldest_kept(store) if newest.anchor is not None else None
    if oldest is not None and newest.version < oldest:
        # A hint left behind by a writer that stalled longer than gc's safety window:
        # the records after it may be gone, so find the newest version by listing.
        newest = read_head(store, use_hint=False)
    if newest.dataset_id != base.dataset_id or newest.version < base.version:
        raise ConflictError(
            f"{store.url}: the dataset was replaced or removed while it was open",
            hint="load it again, then retry",
        )
    return newest


def committed(store: Store, written: Written) -> bool | None:
    """Whether one of the writer's commit attempts landed (True), none did (False), or
    it cannot be told (None: keep everything)."""
    try:
        return any(holds(store, key, data) for key, data in written.attempts)
    except (HubcliError, OSError, StorageError):
        return None
