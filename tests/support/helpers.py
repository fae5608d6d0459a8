"""Small helpers shared by tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

import hubcli
from support.media import frame_hash


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` with the SHA-256 of its bytes: equal snapshots mean the
    dataset is byte-for-byte unchanged."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def content(ds: hubcli.Dataset) -> dict[str, list[tuple[str, list[str], list[float]]]]:
    """What a reader sees, per tensor and sample: (filename, frame hashes, timestamps)."""
    out = {}
    for name, tensor in ds.tensors.items():
        out[name] = [
            (
                view.sample_info["filename"],
                [frame_hash(f) for f in view.numpy()],
                [float(t) for t in view.timestamp],
            )
            for view in tensor
        ]
    return out


def metadata_bytes(root: Path) -> tuple[int, int]:
    """(bytes, objects) of everything under ``root`` but chunks."""
    files = [p for p in root.rglob("*") if p.is_file() and "chunks" not in p.parts]
    return sum(p.stat().st_size for p in files), len(files)
