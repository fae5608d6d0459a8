"""Fixtures for the CLI tests."""

from __future__ import annotations

from pathlib import Path

import pytest

import hubcli


@pytest.fixture
def cli_ds(tmp_path, corpus) -> Path:
    """A dataset with tensor 'videos' (mp4) holding h264_bframes, hevc and the edit-list clip."""
    root = tmp_path / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("videos", sample_compression="mp4")
    ds.videos.extend(
        [str(corpus["h264_bframes"]), str(corpus["hevc"]), str(corpus["h264_bframes_editlist"])]
    )
    return root
