"""hubcli.ray on the S3 test server: a dataset written and read by Ray tasks that open
it themselves. Workers get no secret from the driver: the dataset's own credentials
come from their environment (as a cluster's nodes have theirs), and the creds key of
the sources and links, LAKE, is resolved by name on each worker from its credential
store."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest
import ray
from conftest import RAY_WARNINGS

import hubcli
import hubcli.ray
from hubcli.ray import Datasink

pytestmark = [pytest.mark.usefixtures("ray_local"), *RAY_WARNINGS, pytest.mark.slow]

NAMES = ("h264_bframes", "hevc")
STORE_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL")


@pytest.fixture
def lake(s3, corpus, tmp_path, monkeypatch) -> dict[str, Any]:
    """A dataset on S3 with a managed key LAKE populated in a private credential store,
    source videos in another bucket, and the environment each worker gets."""
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    url = f"s3://{s3.new_bucket()}/ds"
    raw = s3.new_bucket()
    for name in NAMES:
        s3.fs.put(str(corpus[name]), f"{raw}/{name}.mp4")
    ds = hubcli.empty(url)
    ds.create_tensor("videos")
    ds.create_tensor("links", htype="link[video]")
    ds.create_tensor("labels", htype="class_label", class_names=["cat", "dog"])
    ds.add_creds_key("LAKE", managed=True)
    ds.populate_creds(
        "LAKE",
        {
            "aws_access_key_id": os.environ["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": os.environ["AWS_SECRET_ACCESS_KEY"],
            "endpoint_url": os.environ["AWS_ENDPOINT_URL"],
            "region": "us-east-1",
        },
    )
    env = {k: os.environ[k] for k in STORE_ENV} | {"XDG_CONFIG_HOME": str(home)}
    sources = [f"s3://{raw}/{name}.mp4" for name in NAMES]
    return {"url": url, "sources": sources, "runtime_env": {"env_vars": env}}


def test_remote_dataset_written_and_read_by_ray_tasks(lake, corpus, oracle, s3):
    url, sources, runtime_env = lake["url"], lake["sources"], lake["runtime_env"]
    rows = ray.data.from_items(
        [
            {"videos": src, "links": src, "labels": lab}
            for src, lab in zip(sources, ["dog", "cat"], strict=True)
        ],
        override_num_blocks=2,
    )
    rows.write_datasink(
        Datasink(url, "videos", columns=("labels",), creds_key="LAKE"),
        ray_remote_args={"runtime_env": runtime_env},
    )
    rows.write_datasink(
        Datasink(url, "links", columns=(), creds_key="LAKE"),
        ray_remote_args={"runtime_env": runtime_env},
    )
    ds = hubcli.load(url)
    assert len(ds.videos) == len(ds.links) == len(ds.labels) == 2
    by_file = dict(zip(sources, NAMES, strict=True))
    truth = [oracle(corpus[by_file[ds.videos[i].sample_info["filename"]]]) for i in range(2)]
    linked = [oracle(corpus[by_file[ds.links[i].sample_info["url"]]]) for i in range(2)]
    label_of = dict(zip(sources, ["dog", "cat"], strict=True))
    names = ds.labels.info.class_names
    for i in range(2):  # each video kept its row's label
        label = names[int(ds.labels[i].numpy())]
        assert label == label_of[ds.videos[i].sample_info["filename"]]
    for tensor, expected in (("videos", truth), ("links", linked)):
        frames = hubcli.ray.read_frames(
            url, f"{tensor}[:, ::5]", columns=(), runtime_env=runtime_env
        ).take_all()
        assert sorted((r["sample"], r["frame_index"]) for r in frames) == sorted(
            (s, k) for s in range(2) for k in range(0, len(expected[s].frames), 5)
        )
        for row in frames:
            assert np.array_equal(row["frame"], expected[row["sample"]].frames[row["frame_index"]])
            assert row["timestamp"] == expected[row["sample"]].times[row["frame_index"]]
