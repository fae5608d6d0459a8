"""One local Ray for every test under tests/ray (starting one costs seconds), and a
small dataset of corpus videos with labels."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray  # the test command installs the ray extra: never skipped

import hubcli
from testkit.env import patched_env

HERE = Path(__file__).resolve().parent
#: The videos of the shared dataset: B-frames, B-frames behind an edit list, HEVC.
VIDEOS = ("h264_bframes", "h264_bframes_editlist", "hevc")
LABELS = ("cat", "dog", "cat")


#: Ray's own warnings, not ours: each Ray test module sets ``pytestmark = RAY_MARKS``.
#: DataContext() sets its own deprecated fields (``use_push_based_shuffle``, ``use_polars``)
#: and warns about them (Ray 2.60).
RAY_WARNINGS = [pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")]


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """``ray.init(num_cpus=2)``, once. Workers import this folder's test modules (a
    test's Datasink subclass is pickled by reference), and read the dataset's own
    credentials from their environment, as on a cluster."""
    path = os.pathsep.join([str(HERE), str(HERE.parent), str(HERE.parent.parent)])
    # Set for the processes ray.init starts (they inherit it), not as a runtime_env:
    # that would make Ray set up a dedicated environment for the workers first.
    with patched_env({"PYTHONPATH": path}):
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def labelled(
    tmp_path_factory: pytest.TempPathFactory, corpus: dict[str, Path]
) -> tuple[str, list[Path]]:
    """A dataset (``videos``, ``labels`` class_label, ``meta`` json) of three videos;
    read-only for the tests. Returns its path and the source of each sample."""
    root = tmp_path_factory.mktemp("ray") / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("videos")
    ds.create_tensor("labels", htype="class_label", class_names=["cat", "dog"])
    ds.create_tensor("meta", htype="json")
    sources = [corpus[n] for n in VIDEOS]
    meta: list[Any] = [{"n": 0}, {"tags": ["x", "y"]}, None]
    ds.extend({"videos": [str(p) for p in sources], "labels": list(LABELS), "meta": meta})
    return str(root), sources
