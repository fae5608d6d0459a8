"""Writing selected frames to ``.npy`` files, streaming (format: numpy's NPY 1.0/2.0).

Frames are written one at a time at their offset in the file as they are decoded, so
memory holds one frame and the decoder's state however many frames are exported; no
memory map is used, because mapped pages count against the process's resident memory.
The file is written under a temporary name and renamed into place only when complete.
"""

from __future__ import annotations

import io
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hubcli.errors import ExportError

if TYPE_CHECKING:
    from hubcli.core.sample import SampleView
    from hubcli.video.decode import Picture

#: Called with the number of frames just written.
FrameProgress = Callable[[int], None]


@dataclass(frozen=True)
class ExportResult:
    path: str
    shape: tuple[int, ...]
    nbytes: int
    timestamps_path: str | None = None


def export_sample(
    view: SampleView,
    output: str | os.PathLike[str],
    timestamps: str | os.PathLike[str] | None = None,
    progress: FrameProgress | None = None,
) -> ExportResult:
    """Write ``view``'s frames to ``output`` (and their timestamps to ``timestamps``).

    ``view`` may select frames but not pixels. A single-int frame selection writes
    ``(H, W, 3)``, any other ``(N, H, W, 3)``; ``uint8`` either way.
    """
    if len(view.rest) > 1:
        raise ExportError(
            f"{view.where}: export takes a sample and frames, not pixel indices",
            hint="drop the indices after the frame index",
        )
    frames, scalar = view.frame_positions()
    _, h, w, c = view.record().shape
    shape = (h, w, c) if scalar else (len(frames), h, w, c)
    frame_bytes = h * w * c
    header = npy_header(shape)
    out = Path(output)
    with _atomic_output(out) as fd:
        os.pwrite(fd, header, 0)
        # The file gets its full size now: a cut-short file is never a valid .npy.
        os.ftruncate(fd, len(header) + frame_bytes * (1 if scalar else len(frames)))

        def put(positions: list[int], picture: Picture) -> None:
            data = picture.rgb_bytes()  # no copy: written from the converted picture
            for pos in positions:
                os.pwrite(fd, data, len(header) + pos * frame_bytes)
            if progress:
                progress(len(positions))

        view.decode_each(frames, put)
    ts_path = None
    if timestamps is not None:
        ts_path = str(timestamps)
        _save_atomic(Path(timestamps), np.asarray(view.timestamp, dtype=np.float64))
    return ExportResult(str(out), shape, int(np.prod(shape)), ts_path)


@contextmanager
def _atomic_output(path: Path) -> Iterator[int]:
    """A file descriptor on a temp file beside ``path``, renamed to ``path`` when the
    block succeeds and removed when it fails or is interrupted."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.partial")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError as exc:
        raise ExportError(
            f"cannot write {path}: {exc.strerror}",
            hint="check that the folder exists and is writable",
        ) from None
    try:
        with os.fdopen(fd, "wb", closefd=True):
            yield fd
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def npy_header(shape: tuple[int, ...]) -> bytes:
    """The NPY header of a C-order ``uint8`` array of ``shape`` (numpy picks the version)."""
    buffer = io.BytesIO()
    header = {"descr": "|u1", "fortran_order": False, "shape": shape}
    try:
        np.lib.format.write_array_header_1_0(buffer, header)
    except ValueError:  # header over 64 KiB: only NPY 2.0 can hold it
        buffer = io.BytesIO()
        np.lib.format.write_array_header_2_0(buffer, header)
    return buffer.getvalue()


def _save_atomic(path: Path, array: np.ndarray) -> None:
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.partial")
    try:
        with open(temp, "xb") as f:
            np.save(f, array)
        os.replace(temp, path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise ExportError(f"cannot write {path}: {exc.strerror}") from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
