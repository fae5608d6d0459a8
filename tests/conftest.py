"""Session fixtures: a corpus of videos encoded by PyAV at test time, and their oracles."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from media import CORPUS, Decoded, VideoSpec, decode_all, make_video

# Encoders print banners (SVT-AV1) and x265 notes to stderr; keep FFmpeg quiet.
os.environ.setdefault("AV_LOG_FORCE_NOCOLOR", "1")


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("corpus")


@pytest.fixture(scope="session")
def video(corpus_dir: Path) -> Callable[[VideoSpec], Path]:
    """Encode a spec once per session and return its path."""
    made: dict[VideoSpec, Path] = {}

    def get(spec: VideoSpec) -> Path:
        if spec not in made:
            made[spec] = make_video(spec, corpus_dir / spec.filename)
        return made[spec]

    return get


@pytest.fixture(scope="session")
def corpus(video: Callable[[VideoSpec], Path]) -> dict[str, Path]:
    return {spec.name: video(spec) for spec in CORPUS}


@pytest.fixture(scope="session")
def oracle() -> Callable[[Path], Decoded]:
    cache: dict[Path, Decoded] = {}

    def get(path: Path) -> Decoded:
        if path not in cache:
            cache[path] = decode_all(path)
        return cache[path]

    return get
