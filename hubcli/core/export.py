"""Writing selected frames to files, streaming: ``.npy``, images, clips (README "Export
formats").

Which files an export writes is planned first, from the output name and the selection,
before any frame is decoded, so that a wrong name fails at once and changes nothing.
Every file is then written under a temporary name beside its final one, and all of them
are renamed into place together when the last is complete: a failed or interrupted
export leaves no file behind, not even the complete ones of earlier samples.

``.npy`` (numpy's NPY 1.0/2.0) is written here: frames go to their offset in the file
as they are decoded, so memory holds one frame and the decoder's state however many
frames are exported; no memory map is used, because mapped pages count against the
process's resident memory. Images are written by export_images.py, clips by
export_clips.py.
"""

from __future__ import annotations

import io
import os
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hubcli.errors import ExportError
from hubcli.format.limits import MAX_PIXELS, MAX_SIDE

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hubcli.core.sample import SampleView
    from hubcli.video.decode import Picture

#: Called with the number of frames just written.
FrameProgress = Callable[[int], None]

#: Format names, and the extensions that choose them.
FORMATS = ("npy", "png", "jpg", "mp4", "mkv", "webm")
EXTENSIONS = {
    ".npy": "npy",
    ".png": "png",
    ".jpg": "jpg",
    ".jpeg": "jpg",
    ".mp4": "mp4",
    ".mkv": "mkv",
    ".webm": "webm",
}
IMAGE_FORMATS = frozenset({"png", "jpg"})
CLIP_FORMATS = frozenset({"mp4", "mkv", "webm"})
DEFAULT_JPEG_QUALITY = 90
#: Frame numbers in per-frame file names: zero-padded to five digits (longer ones grow).
FRAME_FIELD = "%05d"
_LISTED = ", ".join(sorted(EXTENSIONS))
# One printf integer field (%d, %5d, %05d) in a pattern; %% is a literal percent sign.
_FIELD = re.compile(r"%(0?[1-9][0-9]?)?d")
_PERCENT = re.compile(r"%%|%(0?[1-9][0-9]?)?d|%")


@dataclass(frozen=True)
class ExportOptions:
    """How to write: ``format`` (None: from the output's extension), ``size`` as
    ``(height, width)`` (None: as decoded), JPEG ``quality`` 1..100 (None: 90), and
    ``copy`` (clips: copy the stored packets of whole GOPs, no re-encoding)."""

    format: str | None = None
    size: tuple[int, int] | None = None
    quality: int | None = None
    copy: bool = False


@dataclass(frozen=True)
class ExportResult:
    path: str
    shape: tuple[int, ...]
    nbytes: int
    timestamps_path: str | None = None
    format: str = "npy"
    #: Per-frame image exports: the file of each selected frame, in selection order.
    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class SamplePlan:
    """What one sample's export writes: ``path`` is a file, or (``per_frame``) a
    pattern whose ``%05d``-style field takes each frame number; ``folders`` are the
    folders to create if missing (those of folder and pattern outputs: a single file's
    folder must exist)."""

    view: SampleView
    format: str
    path: str
    per_frame: bool
    timestamps: str | None
    folders: tuple[str, ...] = ()


def parse_size(text: str) -> tuple[int, int]:
    """``"WxH"`` (``640x360``) as ``(height, width)``."""
    match = re.fullmatch(r"\s*([0-9]+)\s*[xX]\s*([0-9]+)\s*", text)
    width, height = (int(match[1]), int(match[2])) if match else (0, 0)
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE) or width * height > MAX_PIXELS:
        raise ExportError(
            f"--size {text!r} is not a picture size",
            hint=f"give WIDTHxHEIGHT, e.g. 640x360, each side 1..{MAX_SIDE}",
        )
    return height, width


def export_sample(
    view: SampleView,
    output: str | os.PathLike[str],
    timestamps: str | os.PathLike[str] | None = None,
    progress: FrameProgress | None = None,
    options: ExportOptions | None = None,
) -> ExportResult:
    """Write ``view``'s frames to ``output`` (and their timestamps to ``timestamps``).

    ``view`` may select frames but not pixels. For ``.npy``, a single-int frame
    selection writes ``(H, W, 3)``, any other ``(N, H, W, 3)``; ``uint8`` either way."""
    results = export_views(
        [view], output, several=False, timestamps=timestamps, options=options, progress=progress
    )
    return results[0]


def export_views(
    views: Sequence[SampleView],
    output: str | os.PathLike[str],
    *,
    several: bool,
    timestamps: str | os.PathLike[str] | None = None,
    options: ExportOptions | None = None,
    progress: FrameProgress | None = None,
    jobs: int = 1,
    creds_file: str | os.PathLike[str] | None = None,
) -> list[ExportResult]:
    """Export every view (``several``: the selector named several samples, even if it
    matched one or none); all files appear together, or none.

    ``jobs``: how many processes write samples (1: this one); with more, each sample
    is written by a worker that opens the dataset by its URL and version (with the
    credentials of the environment, or of ``creds_file``: hubcli/core/parallel.py),
    and ``progress`` hears of a sample's frames once it is written. The files and
    their names are the same either way."""
    opts = options or ExportOptions()
    ts = None if timestamps is None else os.fspath(timestamps)
    if type(jobs) is not int or jobs != 1:  # True is 1 too, but no count
        from hubcli.core.parallel import check_jobs

        check_jobs(jobs)
    plans = plan_export(views, os.fspath(output), several=several, timestamps=ts, options=opts)
    tick = progress or (lambda n: None)
    with staged() as stage:
        for plan in plans:
            for folder in plan.folders:
                stage.make_folder(Path(folder))
        if jobs > 1 and len(plans) > 1:
            from hubcli.core.parallel import export_plans

            return export_plans(plans, opts, stage, tick, jobs=jobs, creds_file=creds_file)
        return [export_plan(plan, opts, stage, tick) for plan in plans]


@dataclass(frozen=True)
class Written:
    """What a writer wrote for one sample."""

    shape: tuple[int, ...]
    nbytes: int
    #: Seconds of the frames written, in order (a float for a single-int selection).
    timestamps: np.ndarray | float
    #: Per-frame images: the file of each selected frame, in selection order.
    paths: tuple[str, ...] = ()


def export_plan(
    plan: SamplePlan, opts: ExportOptions, stage: Staging, progress: FrameProgress
) -> ExportResult:
    """Write one planned sample into ``stage`` (in this process, or a worker's)."""
    from hubcli.core.export_clips import write_clip
    from hubcli.core.export_images import write_images

    if plan.format == "npy":
        written = write_npy(plan.view, plan.path, stage, opts.size, progress)
    elif plan.format in IMAGE_FORMATS:
        quality = DEFAULT_JPEG_QUALITY if opts.quality is None else opts.quality
        written = write_images(plan, stage, opts.size, quality, progress)
    else:
        written = write_clip(plan, stage, opts.size, copy=opts.copy, progress=progress)
    if plan.timestamps is not None:
        save_npy(stage, plan.timestamps, np.asarray(written.timestamps, dtype=np.float64))
    return ExportResult(
        plan.path, written.shape, written.nbytes, plan.timestamps, plan.format, written.paths
    )


# --- planning: names and formats, before anything is decoded ------------------------------


@dataclass(frozen=True)
class _Target:
    """The output name as given: a ``file``, a ``folder`` or a ``pattern``."""

    kind: str
    path: str


def plan_export(
    views: Sequence[SampleView],
    output: str,
    *,
    several: bool,
    timestamps: str | None,
    options: ExportOptions,
) -> list[SamplePlan]:
    """Each view's format and file names (README "Export formats", naming)."""
    fmt = output_format(output, several=several, options=options)
    target = _several(_parse_target(output), several)
    if several and target.kind == "file":
        raise ExportError(
            f"the selector names {len(views)} samples and {output} is a single file",
            hint=f"export into a folder (-o {_stem(output)}/) or a pattern "
            f"(-o {_stem(output)}_%d{Path(output).suffix})",
        )
    ts_target = None if timestamps is None else _timestamps_target(timestamps, several)
    plans = []
    for view in views:
        _check_frames_only(view)
        per_frame = fmt in IMAGE_FORMATS and _per_frame(view, target, output)
        path = (
            _frames_path(view, target, fmt, several) if per_frame else _file_path(view, target, fmt)
        )
        ts = None if ts_target is None else _file_path(view, ts_target, "npy")
        folders = tuple(
            os.path.dirname(p) or "."
            for p, t in ((path, target), (ts, ts_target))
            if p is not None and t is not None and t.kind != "file"
        )
        plans.append(SamplePlan(view, fmt, path, per_frame, ts, folders))
    return plans


def output_format(output: str, *, several: bool, options: ExportOptions) -> str:
    """The format an export to ``output`` writes (checked against ``options``)."""
    fmt = _choose_format(_several(_parse_target(output), several), options)
    _check_options(fmt, options)
    return fmt


def _parse_target(output: str) -> _Target:
    if not output:
        raise ExportError("--output is empty", hint="name a file, a folder or a pattern")
    fields = [m for m in _PERCENT.finditer(output) if m.group() != "%%"]
    if fields:
        if len(fields) != 1 or not _FIELD.fullmatch(fields[0].group()):
            raise ExportError(
                f"--output {output!r}: a pattern holds one integer field such as %05d",
                hint="write a literal percent sign as %%",
            )
        if "%" in os.path.dirname(output):
            raise ExportError(
                f"--output {output!r}: the %d field belongs in the file name, not a folder"
            )
        return _Target("pattern", output)
    if output.endswith(("/", os.sep)) or os.path.isdir(output):
        return _Target("folder", output)
    return _Target("file", output)


def _several(target: _Target, several: bool) -> _Target:
    """With several samples, a name with no extension is a folder (as it always was)."""
    if several and target.kind == "file" and not Path(target.path).suffix:
        return _Target("folder", target.path)
    return target


def _choose_format(target: _Target, options: ExportOptions) -> str:
    if options.format is not None:
        fmt = EXTENSIONS.get(f".{options.format.lower()}")
        if fmt is None:
            raise ExportError(
                f"--format {options.format!r} is not an export format",
                hint=f"use one of {', '.join(FORMATS)}",
            )
        return fmt
    if target.kind == "folder":
        return "npy"  # a folder has no extension to go by: one .npy per sample, as before
    suffix = Path(target.path).suffix.lower()
    fmt = EXTENSIONS.get(suffix)
    if fmt is None:
        what = f"{suffix!r} is not an export format" if suffix else "it has no extension"
        raise ExportError(
            f"cannot tell what to write to {target.path}: {what}",
            hint=f"end it with one of {_LISTED}, end a folder with /, or give --format",
        )
    return fmt


def _check_options(fmt: str, options: ExportOptions) -> None:
    if options.quality is not None:
        if fmt != "jpg":
            raise ExportError(f"--quality applies to .jpg exports, not .{fmt}")
        if not 1 <= options.quality <= 100:
            raise ExportError(f"--quality {options.quality} is out of range", hint="give 1..100")
    if options.copy:
        if fmt not in CLIP_FORMATS:
            raise ExportError(
                f"--copy applies to clips (.mp4, .mkv, .webm), not .{fmt}",
                hint="drop --copy",
            )
        if options.size is not None:
            raise ExportError(
                "--copy writes the stored pictures unchanged and cannot resize them",
                hint="drop --copy to re-encode at --size, or drop --size",
            )


def _check_frames_only(view: SampleView) -> None:
    if len(view.rest) > 1:
        raise ExportError(
            f"{view.where}: export takes a sample and frames, not pixel indices",
            hint="drop the indices after the frame index",
        )


def _per_frame(view: SampleView, target: _Target, output: str) -> bool:
    """Whether images go one file a frame (a folder or a pattern): an image file
    holds one picture, so more frames into one file name is an error."""
    if target.kind != "file":
        return True
    frames, _ = view.frame_positions()
    if len(frames) != 1:
        raise ExportError(
            f"{view.where} selects {len(frames)} frames and {output} holds one picture",
            hint=f"write one file a frame into a folder (-o {_stem(output)}/) or a pattern "
            f"(-o {_stem(output)}_{FRAME_FIELD}{Path(output).suffix})",
        )
    return False


def _file_path(view: SampleView, target: _Target, fmt: str) -> str:
    """One file per sample: the name given, ``<folder>/<tensor>_<index>.<ext>``, or the
    pattern filled with the sample's index."""
    if target.kind == "file":
        return target.path
    if target.kind == "pattern":
        return target.path % view.index
    return os.path.join(target.path, f"{view.tensor.name}_{view.index}.{fmt}")


def _frames_path(view: SampleView, target: _Target, fmt: str, several: bool) -> str:
    """The per-frame pattern of one sample: ``<folder>/%05d.<ext>``, the pattern given;
    with several samples each file name starts with ``<tensor>_<index>_``."""
    prefix = f"{view.tensor.name}_{view.index}_" if several else ""
    if target.kind == "folder":
        return os.path.join(target.path, f"{prefix}{FRAME_FIELD}.{fmt}")
    folder, name = os.path.split(target.path)
    return os.path.join(folder, prefix + name)


def _timestamps_target(timestamps: str, several: bool) -> _Target:
    target = _several(_parse_target(timestamps), several)
    if target.kind == "folder":
        return target
    if Path(timestamps).suffix.lower() != ".npy":
        raise ExportError(
            f"--timestamps {timestamps}: timestamps are written as .npy",
            hint="end the name with .npy, or end a folder with /",
        )
    if several and target.kind == "file":
        raise ExportError(
            f"the selector names several samples and --timestamps {timestamps} is a single file",
            hint=f"give a folder (--timestamps {_stem(timestamps)}/) or a pattern "
            f"(--timestamps {_stem(timestamps)}_%d.npy)",
        )
    return target


def _stem(path: str) -> str:
    return str(Path(path).with_suffix("")) if Path(path).suffix else path.rstrip("/")


# --- staging: temporary files, renamed together ---------------------------------------


class Staging:
    """Files written under temporary names beside their final ones (``.NAME.<random>
    .partial``), renamed into place by ``commit``; ``discard`` removes them, and the
    folders it created for them, if empty."""

    def __init__(self) -> None:
        self._pending: dict[str, Path] = {}
        self._created: list[Path] = []

    def create(self, final: str) -> Path:
        """A new empty temporary file for ``final``; one per final name."""
        if final in self._pending:
            raise ExportError(f"{final} would be written twice", hint="name each output apart")
        path = Path(final)
        temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.partial")
        try:
            os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except OSError as exc:
            raise ExportError(
                f"cannot write {final}: {exc.strerror}",
                hint="check that the folder exists and is writable",
            ) from None
        self._pending[final] = temp
        return temp

    def has(self, final: str) -> bool:
        return final in self._pending

    def pending(self) -> list[tuple[str, str]]:
        """(final name, temporary file) of each file written and not yet renamed."""
        return [(final, str(temp)) for final, temp in self._pending.items()]

    def adopt(self, files: list[tuple[str, str]]) -> None:
        """Take over files another process staged (its :meth:`pending`): renamed by this
        stage's ``commit``, removed by its ``discard``. A name staged twice (two workers
        writing the same file) is the error one process gives, after all are taken."""
        twice = [final for final, _ in files if final in self._pending]
        for final, temp in files:
            if final not in self._pending:
                self._pending[final] = Path(temp)
            else:
                Path(temp).unlink(missing_ok=True)
        if twice:
            raise ExportError(f"{twice[0]} would be written twice", hint="name each output apart")

    def write(self, final: str, data: bytes) -> None:
        """Stage ``final`` with the content ``data``."""
        temp = self.create(final)
        try:
            temp.write_bytes(data)
        except OSError as exc:
            raise ExportError(f"cannot write {final}: {exc.strerror}") from None

    def make_folder(self, folder: Path) -> None:
        """Create ``folder`` and its missing parents (removed again by ``discard``)."""
        missing = []
        for parent in (folder, *folder.parents):
            if parent.exists() or parent == parent.parent:
                break
            missing.append(parent)
        for parent in reversed(missing):
            try:
                parent.mkdir()
            except OSError as exc:
                raise ExportError(f"cannot create folder {parent}: {exc.strerror}") from None
            self._created.append(parent)

    def commit(self) -> None:
        try:
            for final, temp in list(self._pending.items()):
                os.replace(temp, final)
                del self._pending[final]
        except OSError as exc:
            raise ExportError(f"cannot write {final}: {exc.strerror}") from None

    def discard(self) -> None:
        for temp in self._pending.values():
            temp.unlink(missing_ok=True)
        self._pending.clear()
        for folder in reversed(self._created):
            try:
                folder.rmdir()
            except OSError:
                break  # not empty: something else was written there meanwhile


@contextmanager
def staged() -> Iterator[Staging]:
    """A staging area committed when the block succeeds, discarded if it fails or is
    interrupted (KeyboardInterrupt included)."""
    stage = Staging()
    try:
        yield stage
        stage.commit()
    finally:
        stage.discard()


# --- .npy -------------------------------------------------------------------------------


def write_npy(
    view: SampleView,
    final: str,
    stage: Staging,
    size: tuple[int, int] | None,
    progress: FrameProgress,
) -> Written:
    """Stream ``view``'s frames into a ``.npy`` file."""
    frames, scalar = view.frame_positions()
    _, h, w, c = view.record().shape
    if size is not None:
        h, w = size
    shape = (h, w, c) if scalar else (len(frames), h, w, c)
    frame_bytes = h * w * c
    header = npy_header(shape)
    temp = stage.create(final)
    with open(temp, "r+b") as f:
        fd = f.fileno()
        os.pwrite(fd, header, 0)
        # The file gets its full size now: a cut-short file is never a valid .npy.
        os.ftruncate(fd, len(header) + frame_bytes * (1 if scalar else len(frames)))

        def put(positions: list[int], picture: Picture) -> None:
            data = picture.rgb_bytes()  # no copy: written from the converted picture
            for pos in positions:
                os.pwrite(fd, data, len(header) + pos * frame_bytes)
            progress(len(positions))

        view.decode_each(frames, put, size=size)
    return Written(shape, int(np.prod(shape)), view.timestamp)


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


def save_npy(stage: Staging, final: str, array: np.ndarray) -> None:
    temp = stage.create(final)
    try:
        with open(temp, "wb") as f:
            np.save(f, array)
    except OSError as exc:
        raise ExportError(f"cannot write {final}: {exc.strerror}") from None
