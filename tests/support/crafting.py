"""Crafting hostile datasets by hand, as an attacker following format_spec/ would: edit a
state's JSON, a manifest or a segment header's msgpack, and fix up the checksums that
bind them, so that only the field under test is wrong.

A 1.2 reader opens a dataset through its hint (format_spec/log.md §5); the crafted
state is written there, so that readers use it."""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack

HINT = Path("log") / "hint.json"
_PREFIX_V2 = struct.Struct("<8sQI")


def newest_manifest_path(root: Path) -> Path:
    """The newest key under ``versions/`` (a 1.0/1.1 manifest, or the 1.2 anchor)."""
    return max((root / "versions").glob("*.json"))


def read_state(root: Path) -> dict[str, Any]:
    return json.loads((root / HINT).read_text())


def edit_state(root: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """Apply ``change`` to the state readers open (the hint's JSON), in place."""
    path = root / HINT
    state = json.loads(path.read_text())
    change(state)
    path.write_text(json.dumps(state))
    return path


def first_entry(state: dict[str, Any], tensor: int = 0) -> list[Any]:
    """The oldest segment entry in the spine: ``[id, count, header_size, size, sha]``."""
    spine = state["tensors"][tensor]["spine"]
    return spine[0][0]


def edit_segment_header(
    root: Path, change: Callable[[dict[str, Any]], None], tensor: int = 0, segment: int = 0
) -> None:
    """Apply ``change`` to a segment header (msgpack map) of a 1.2 dataset and re-bind
    it: the prefix's length and CRC-32, and the entry's header_size and size."""
    state = read_state(root)
    meta = state["tensors"][tensor]
    entry = meta["spine"][0][segment]
    seg_path = root / "tensors" / meta["dir"] / "segments" / f"{entry[0]}.seg"
    data = seg_path.read_bytes()
    header_size = entry[2]
    header = msgpack.unpackb(data[_PREFIX_V2.size : header_size], raw=False)
    change(header)
    packed = msgpack.packb(header, use_bin_type=True)
    new_header = _PREFIX_V2.pack(b"HUBCSEG2", len(packed), zlib.crc32(packed)) + packed
    seg_path.write_bytes(new_header + data[header_size:])

    def rebind(s: dict[str, Any]) -> None:
        e = s["tensors"][tensor]["spine"][0][segment]
        e[2] = len(new_header)
        e[3] = len(new_header) + len(data) - header_size

    edit_state(root, rebind)


def edit_entry(root: Path, change: Callable[[list[Any], dict[str, Any]], None]) -> None:
    """Apply ``change(entry, tensor)`` to the first segment entry where every reader can
    meet it: in the hint's state (``[id, count, header_size, size, sha]``) and in the
    commit record that appended it (its op's elements, rewritten alike), so that a
    reader that ignores a bad hint and replays the records meets it too."""

    def in_state(state: dict[str, Any]) -> None:
        change(first_entry(state), state["tensors"][0])

    edit_state(root, in_state)
    entry_id = first_entry(read_state(root))[0]
    for path in sorted((root / "log").glob("0*.json")):
        record = json.loads(path.read_text())
        for op in record["ops"]:
            if op[0] == "append" and op[2] == entry_id:
                entry = [op[2], op[3], op[4], op[5], None]
                tensor: dict[str, Any] = {}
                change(entry, tensor)
                op[3:6] = entry[1:4]
                path.write_text(json.dumps(record))


def edit_json_objects(root: Path, change: Callable[[str], str]) -> None:
    """Apply a text change to every JSON object a reader may open first: the hint, the
    anchor (or newest manifest) and the newest commit record."""
    paths = [root / HINT, newest_manifest_path(root)]
    records = sorted((root / "log").glob("0*.json"))
    paths += records[-1:]
    for path in paths:
        path.write_text(change(path.read_text()))
