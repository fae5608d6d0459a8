"""Crafting hostile datasets by hand, as an attacker following format_spec/ would: edit a
manifest's JSON or a segment header's msgpack and fix up the checksums that bind them,
so that only the field under test is wrong."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack

from hubcli.format.segment import PREFIX, PREFIX_SIZE, SEGMENT_MAGIC


def newest_manifest_path(root: Path) -> Path:
    return max((root / "versions").glob("*.json"))


def edit_manifest(root: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """Apply ``change`` to the newest manifest's JSON object, in place."""
    path = newest_manifest_path(root)
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))
    return path


def edit_segment_header(
    root: Path, change: Callable[[dict[str, Any]], None], tensor: int = 0, segment: int = 0
) -> None:
    """Apply ``change`` to a segment header (msgpack map) and re-bind it: the manifest's
    header_size, size and header_sha256 are updated so that only the change is wrong."""
    path = newest_manifest_path(root)
    manifest = json.loads(path.read_text())
    ref = manifest["tensors"][tensor]["segments"][segment]
    seg_path = root / ref["key"]
    data = seg_path.read_bytes()
    header = msgpack.unpackb(data[PREFIX_SIZE : ref["header_size"]], raw=False)
    change(header)
    packed = msgpack.packb(header, use_bin_type=True)
    new_header = PREFIX.pack(SEGMENT_MAGIC, len(packed)) + packed
    seg_path.write_bytes(new_header + data[ref["header_size"] :])
    ref.update(
        header_size=len(new_header),
        size=len(new_header) + len(data) - ref["header_size"],
        header_sha256=hashlib.sha256(new_header).hexdigest(),
    )
    path.write_text(json.dumps(manifest))
