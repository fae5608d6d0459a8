"""Fixtures of the history tests: tiny clips (the committed fixture clips) so that
hundreds of commits stay fast, and their frames decoded by PyAV as the oracle."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from support.media import frame_hash

CLIPS = Path(__file__).resolve().parent.parent / "fixtures" / "clips"


@pytest.fixture(scope="session")
def clips() -> list[str]:
    return [str(p) for p in sorted(CLIPS.glob("*.mp4"))]


@pytest.fixture(scope="session")
def clip_hashes(clips) -> dict[str, list[str]]:
    """Every frame of every clip (mp4 and mkv), by an independent PyAV decode."""
    out = {}
    for path in map(str, sorted(CLIPS.iterdir())):
        with av.open(path) as container:
            frames = container.decode(video=0)
            out[path] = [frame_hash(f.to_ndarray(format="rgb24")) for f in frames]
    return out
