"""The history of a dataset: every kept version, when it was made and what it changed
(``hubcli log``), from the commit records, the anchor and 1.0/1.1 manifests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from hubcli.core.versions import read_legacy_or_anchor, read_record
from hubcli.format import keys
from hubcli.format.log import (
    AddCredsKey,
    Append,
    CreateTensor,
    Delete,
    DropTensor,
    ManageCredsKey,
    Op,
    Record,
    Rename,
    SetInfo,
    SetLayout,
)

if TYPE_CHECKING:
    from hubcli.format.manifest import Manifest
    from hubcli.storage.base import Store

#: Records read at once from a remote store.
_READ_AHEAD = 16


def version_log(store: Store, limit: int | None = None) -> list[dict[str, Any]]:
    """Every kept version, newest first (at most ``limit``): ``version``,
    ``created_at``, ``message`` and ``changes``."""
    records = sorted(
        (v for k in store.list(keys.LOG_PREFIX) if (v := keys.parse_record_key(k)) is not None),
        reverse=True,
    )
    manifests = sorted(
        (
            v
            for k in store.list(keys.VERSIONS_PREFIX)
            if (v := keys.parse_version_key(k)) is not None
        ),
        reverse=True,
    )
    wanted = records[:limit] if limit is not None else records
    workers = _READ_AHEAD if store.remote else 1
    with ThreadPoolExecutor(workers) as pool:
        entries = [_record_entry(r) for r in pool.map(lambda v: read_record(store, v), wanted)]
    if limit is not None and len(entries) >= limit:
        return entries
    entries.extend(
        _manifest_entries(store, manifests, None if limit is None else limit - len(entries))
    )
    return entries


def _record_entry(record: Record) -> dict[str, Any]:
    return {
        "version": record.version,
        "created_at": record.created_at,
        "message": record.message,
        "changes": [_change(op) for op in record.ops],
    }


def _change(op: Op) -> dict[str, Any]:
    if isinstance(op, Append):
        return {"op": "append", "tensor": op.tensor, "samples_added": op.entry.count}
    if isinstance(op, Delete):
        return {"op": "delete", "tensor": op.tensor, "samples_removed": len(op.indices)}
    if isinstance(op, SetLayout):
        return {"op": "compact", "tensor": op.tensor}
    if isinstance(op, CreateTensor):
        return {"op": "create_tensor", "tensor": op.name, "htype": op.htype}
    if isinstance(op, DropTensor):
        return {"op": "delete_tensor", "tensor": op.tensor}
    if isinstance(op, Rename):
        return {"op": "rename_tensor", "tensor": op.new, "from": op.old}
    if isinstance(op, ManageCredsKey):
        return {"op": "manage_creds_key", "key": op.name}
    if isinstance(op, SetInfo):  # a label tensor's class names grew (or its dtype was set)
        return {"op": "set_info", "tensor": op.tensor}
    assert isinstance(op, AddCredsKey)
    return {"op": "add_creds_key", "key": op.name}


def _manifest_entries(store: Store, versions: list[int], limit: int | None) -> list[dict[str, Any]]:
    """Entries of the anchor and of 1.0/1.1 manifests (newest first): what changed is
    told by comparing each with the one before it (whole manifests, no records)."""
    states: list[Manifest] = []
    for version in versions:
        try:
            states.append(read_legacy_or_anchor(store, version))
        except FileNotFoundError:
            continue
    entries = []
    for n, state in enumerate(states):
        before = (
            states[n + 1]
            if n + 1 < len(states) and states[n + 1].version == state.version - 1
            else None
        )
        changes = _diff(before, state)
        if state.anchor == state.version and state.version > 0:
            changes.insert(0, {"op": "upgrade", "format_version": state.format_version})
        entries.append(
            {
                "version": state.version,
                "created_at": state.created_at,
                "message": None,
                "changes": changes,
            }
        )
        if limit is not None and len(entries) >= limit:
            break
    return entries


def _diff(before: Manifest | None, after: Manifest) -> list[dict[str, Any]]:
    if before is None:
        return [] if after.version == 0 else [{"op": "unknown"}]
    changes: list[dict[str, Any]] = []
    old = {t.name: t for t in before.tensors}
    for meta in after.tensors:
        if meta.name not in old:
            changes.append({"op": "create_tensor", "tensor": meta.name, "htype": meta.htype})
        elif meta.length > old[meta.name].length:
            added = meta.length - old[meta.name].length
            changes.append({"op": "append", "tensor": meta.name, "samples_added": added})
    known = {k.name for k in before.creds_keys}
    changes.extend(
        {"op": "add_creds_key", "key": k.name} for k in after.creds_keys if k.name not in known
    )
    return changes
