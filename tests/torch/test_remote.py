"""hubcli.torch on the S3 test server: a dataset opened in the parent and used by forked
workers (TorchCodec #766, LeRobot #2488: workers sharing one fsspec handle)."""

from __future__ import annotations

import numpy as np
import pytest
from torch.utils.data import DataLoader

import hubcli
from hubcli.torch import ClipDataset, collate

pytestmark = pytest.mark.slow


def test_forked_workers_read_a_remote_dataset_opened_in_the_parent(s3, corpus, oracle):
    url = f"s3://{s3.new_bucket()}/ds"
    ds = hubcli.empty(url)
    ds.create_tensor("videos")
    ds.create_tensor("labels", htype="class_label", class_names=["a", "b"])
    ds.extend({"videos": [str(corpus["h264_bframes"]), str(corpus["hevc"])], "labels": [1, 0]})
    clips = ClipDataset(ds, clip_len=4, clips_per_video=2, seed=4)
    first = clips[0]  # the parent's fsspec handle is open and used before the fork
    truth = [oracle(corpus["h264_bframes"]), oracle(corpus["hevc"])]
    assert np.array_equal(
        first["frames"].permute(0, 2, 3, 1).numpy(),
        np.stack([truth[0].frames[k] for k in first["frame_indices"].tolist()]),
    )
    batches = list(DataLoader(clips, batch_size=2, num_workers=2, collate_fn=collate, timeout=120))
    assert [b["index"].tolist() for b in batches] == [[0, 0], [1, 1]]
    for batch in batches:
        for b in range(2):
            sample = int(batch["index"][b])
            wanted = batch["frame_indices"][b].tolist()
            got = batch["frames"][b].permute(0, 2, 3, 1).numpy()
            assert np.array_equal(got, np.stack([truth[sample].frames[k] for k in wanted]))
            assert int(batch["labels"][b]) == [1, 0][sample]
