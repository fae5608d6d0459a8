"""Small helpers shared by tests."""

from __future__ import annotations

import hashlib
from pathlib import Path


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` with the SHA-256 of its bytes: equal snapshots mean the
    dataset is byte-for-byte unchanged."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
