"""Exporting frames as images: PNG (lossless) or JPEG, one file a frame, streaming.

Each picture is encoded as soon as it is decoded and staged under a temporary name
(export.py ``Staging``); memory holds one frame and its encoded bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubcli.core.export import Written

if TYPE_CHECKING:
    from hubcli.core.export import FrameProgress, SamplePlan, Staging
    from hubcli.video.decode import Picture


def write_images(
    plan: SamplePlan,
    stage: Staging,
    size: tuple[int, int] | None,
    quality: int,
    progress: FrameProgress,
) -> Written:
    """Write the selected frames of ``plan.view`` as ``plan.format`` images: one file,
    or (``plan.per_frame``) one per distinct frame, named by frame number."""
    from hubcli.video.encode import ImageEncoder  # PyAV loads with the first export

    view = plan.view
    frames, scalar = view.frame_positions()
    _, h, w, c = view.record().shape
    if size is not None:
        h, w = size
    names = [plan.path % int(k) for k in frames] if plan.per_frame else [plan.path]
    encoder = ImageEncoder(plan.format, quality)
    nbytes = 0

    def put(positions: list[int], picture: Picture) -> None:
        nonlocal nbytes
        data = encoder.encode(picture.rgb())
        for pos in positions:
            # A frame selected twice has one file (its name is its frame number).
            if not stage.has(names[pos]):
                stage.write(names[pos], data)
                nbytes += len(data)
        progress(len(positions))

    view.decode_each(frames, put, size=size)
    shape = (h, w, c) if scalar else (len(frames), h, w, c)
    paths = tuple(names) if plan.per_frame else ()
    return Written(shape, nbytes, view.timestamp, paths)
