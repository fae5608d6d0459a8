"""Ray Data over hubcli datasets (``pip install "hubcli[ray]"``): a datasource planned
by keyframe run, and a datasink that appends in one commit.

>>> import ray, hubcli.ray
>>> ray.init()  # on a cluster: ray.init(address="auto")
>>> frames = hubcli.ray.read_frames("s3://bucket/videos", "videos[:, ::30]", size=(224, 224))
>>> frames.map_batches(embed, batch_size=64)
>>> rows = ray.data.from_items([{"videos": "s3://raw/a.mp4", "labels": "cat"}])
>>> rows.write_datasink(hubcli.ray.Datasink("s3://bucket/videos", columns=("labels",)))

The driver plans from the manifest and the stored frame tables (no video bytes are
read to plan); each read task decodes only the keyframe runs of its frames. Tasks carry
the dataset's URL and version, never a secret: every worker opens the dataset with its
own environment's credentials (AWS / Google conventions: give the nodes an IAM role,
or ``runtime_env={"env_vars": ...}``), and linked videos resolve their creds keys by
name on the worker (``ENV``, or managed keys populated on each node). ``creds=`` are
the driver's alone.

ray is imported only here: ``import hubcli`` never loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ray.data

from hubcli.ray.sink import Datasink
from hubcli.ray.source import ClipSource, FrameSource
from hubcli.sampling import ClipSpec, Crop, FrameTransform, Policy, Sampler

if TYPE_CHECKING:
    import os
    from collections.abc import Mapping, Sequence

__all__ = ["ClipSource", "Datasink", "FrameSource", "read_clips", "read_frames"]


def read_frames(
    url: str | os.PathLike[str],
    selector: str = "videos[:, ::30]",
    *,
    size: tuple[int, int] | None = None,
    interpolation: str = "bilinear",
    crop: Crop = None,
    columns: Sequence[str] = ("labels",),
    creds: Mapping[str, Any] | None = None,
    version: int | None = None,
    **ray_args: Any,
) -> ray.data.Dataset:
    """The frames ``selector`` names, one row each: ``sample``, ``frame_index``,
    ``timestamp`` (seconds), ``frame`` (uint8 ``(H, W, 3)``) and one column per label
    tensor in ``columns`` (json values as their JSON text).

    ``size=(h, w)``, ``interpolation`` and ``crop`` (``"center"`` or a box ``(top, left,
    height, width)``) are applied in the one swscale pass that converts each frame to
    RGB, as in :class:`hubcli.torch.ClipDataset`.

    ``version``: read that version (default: the newest when called; every task reads
    the same one). ``ray_args`` go to ``ray.data.read_datasource``
    (``override_num_blocks``, ``concurrency``, ``num_cpus``, ``runtime_env``...): tasks
    are never more than the keyframe runs to decode.
    """
    transform = FrameTransform(size, interpolation, crop)
    source = FrameSource(
        url, selector, transform=transform, columns=columns, creds=creds, version=version
    )
    frames: ray.data.Dataset = ray.data.read_datasource(source, **ray_args)
    return frames


def read_clips(
    url: str | os.PathLike[str],
    tensor: str = "videos",
    clip_len: int = 16,
    *,
    frame_step: int = 1,
    clips_per_video: int = 1,
    clip_stride: int | None = None,
    sampler: Sampler = "random",
    policy: Policy = "repeat_last",
    fps: float | None = None,
    seed: int = 0,
    epoch: int = 0,
    size: tuple[int, int] | None = None,
    interpolation: str = "bilinear",
    crop: Crop = None,
    columns: Sequence[str] = ("labels",),
    creds: Mapping[str, Any] | None = None,
    version: int | None = None,
    **ray_args: Any,
) -> ray.data.Dataset:
    """Clips planned as :class:`hubcli.torch.ClipDataset` plans them
    (:class:`hubcli.sampling.ClipSpec`; the same clips for the same ``seed`` and
    ``epoch``), one row each: ``sample``, ``slot``, ``frame_indices``, ``timestamps``,
    ``frames`` (uint8 ``(clip_len, H, W, 3)``) and the label columns. Clips sharing a
    keyframe run are read by one task, which decodes the run once. ``size``,
    ``interpolation`` and ``crop`` (``"center"``, ``"random"`` per clip from ``(seed,
    epoch, slot)``, or a box) as in :class:`hubcli.torch.ClipDataset`."""
    spec = ClipSpec(clip_len, frame_step, clips_per_video, clip_stride, sampler, policy, fps, seed)
    transform = FrameTransform(size, interpolation, crop)
    source = ClipSource(
        url,
        tensor,
        spec,
        epoch=epoch,
        transform=transform,
        columns=columns,
        creds=creds,
        version=version,
    )
    clips: ray.data.Dataset = ray.data.read_datasource(source, **ray_args)
    return clips
