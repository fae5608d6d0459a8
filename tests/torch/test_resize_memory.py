"""A DataLoader worker's memory stays flat with ``size=(224, 224)`` (issue 18, W9).

The growth this guards against (W9: +106 % and +128 % per worker) came from no decoder
state: a worker's batch of 8 x 16 x 224 x 224 RGB frames (19 MB) was stacked in private
memory and moved to shared memory by the queue's feeder thread on its way to the main
process. Below glibc's largest mmap threshold (32 MB), such blocks land in the heap once
a first one is freed, and the heap grew by about one batch per batch; at full size (88 MB
batches, always mmapped) the same loop stayed flat. The worker's batch must live in
shared memory from the start (as ``torch.utils.data.default_collate`` puts it), so that
nothing is copied, freed or left behind on the way."""

from __future__ import annotations

import os

import pytest
import torch
from torch.utils.data import DataLoader, get_worker_info

from hubcli.torch import ClipDataset, collate

#: 8 clips of 16 frames at 224x224: the size of W9's batches, where the growth showed.
BATCH, CLIP, SIZE = 8, 16, (224, 224)
WARM, BATCHES = 4, 20
#: About one batch: the growth was about one batch per batch (300+ MB over this loop).
ALLOWED_MB = 20


@pytest.fixture(scope="module")
def path(tmp_path_factory, make_dataset):
    root = tmp_path_factory.mktemp("resize-memory") / "ds"
    make_dataset(root, {"videos": ["h264_bframes", "hevc"]})
    return str(root)


def _anon_mb() -> float:
    """This process's private (anonymous) resident memory: what malloc holds. Shared
    memory (the batches on their way) is counted apart, as RssShmem."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no RssAnon in /proc/self/status")


def _probed(items: list[dict]) -> dict:
    """collate, run in the worker, and the worker's memory and whether the batch it
    sends is already in shared memory (a tensor that is not is moved there on the way)."""
    batch = collate(items)
    batch["worker memory"] = torch.tensor(_anon_mb())
    batch["shared"] = torch.tensor(get_worker_info() is not None and batch["frames"].is_shared())
    return batch


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc (Linux)")
def test_a_worker_reading_resized_clips_keeps_flat_memory(path, monkeypatch):
    # The workers run with glibc's default malloc, as a training job's do.
    for name in ("GLIBC_TUNABLES", "MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_"):
        monkeypatch.delenv(name, raising=False)
    clips = ClipDataset(
        path, clip_len=CLIP, clips_per_video=BATCH * BATCHES, size=SIZE, columns=(), seed=1
    )
    loader = DataLoader(
        clips,
        batch_size=BATCH,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
        num_workers=1,
        collate_fn=_probed,
        multiprocessing_context="spawn",
    )
    memory, shared = [], []
    for n, batch in enumerate(loader):
        assert batch["frames"].shape == (BATCH, CLIP, 3, *SIZE)
        memory.append(float(batch["worker memory"]))
        shared.append(bool(batch["shared"]))
        del batch
        if n + 1 == BATCHES:
            break
    del loader
    growth = max(memory[WARM:]) - memory[WARM]
    assert growth < ALLOWED_MB, f"worker memory grew {growth:.0f} MB after warm-up: {memory}"
    assert all(shared), "a worker's batch was stacked in private memory, then moved"
