"""``hubcli export``: selected frames written to files (.npy, images, clips), streaming."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hubcli.cli import output
from hubcli.cli.app import app
from hubcli.cli.options import (
    CredsOpt,
    DatasetArg,
    JsonOpt,
    QuietOpt,
    SelectorArg,
    emit,
    open_dataset,
    select_views,
)
from hubcli.errors import ExportError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from hubcli.core.export import ExportResult


class ExportFormat(StrEnum):
    npy = "npy"
    png = "png"
    jpg = "jpg"
    mp4 = "mp4"
    mkv = "mkv"
    webm = "webm"


@app.command()
def export(
    dataset: DatasetArg,
    selector: SelectorArg,
    output_path: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="A file (.npy .png .jpg .mp4 .mkv .webm), a folder ending in /, "
            "or a pattern such as frames/%05d.png; label tensors: .npy .jsonl .npz.",
            show_default=False,
        ),
    ],
    format_: Annotated[
        ExportFormat | None,
        typer.Option("--format", help="Write this format whatever the name's extension."),
    ] = None,
    size: Annotated[
        str | None,
        typer.Option("--size", help="Resize every frame to WIDTHxHEIGHT, e.g. 640x360."),
    ] = None,
    quality: Annotated[
        int | None, typer.Option("--quality", help="JPEG quality, 1-100 (default 90).")
    ] = None,
    copy: Annotated[
        bool,
        typer.Option(
            "--copy",
            help="Clips: copy the stored packets of whole GOPs, no re-encoding "
            "(a contiguous range; starts at a keyframe).",
        ),
    ] = False,
    timestamps_path: Annotated[
        Path | None,
        typer.Option("--timestamps", help="Also write the timestamps here (.npy, or a folder)."),
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Write the samples in N processes (the same files as one process).",
        ),
    ] = 1,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    creds_file: CredsOpt = None,
) -> None:
    """Write the selected frames as .npy, PNG/JPEG images or a clip, streaming; or a
    label tensor's values as .npy (numbers), .jsonl (one JSON value a line) or .npz
    (one array a sample, named by its index).

    The format follows the extension of --output (or --format). Several frames as
    images: one file a frame, -o frames/ (frames/00100.png, ...) or -o frames/%05d.png.
    Several samples: -o a folder (<tensor>_<index>.npy) or a pattern (clip_%d.mp4).
    Example: hubcli export ./clips 'videos[0, 100:200:5]' --output frames.npy
    Example: hubcli export ./clips labels -o labels.npy
    Example: hubcli export ./clips 'videos[:, ::30]' -o frames/ --jobs 4
    """
    ds = open_dataset(dataset, creds_file)
    from hubcli.core.tensor import Tensor

    target = ds.select(selector)
    if (target if isinstance(target, Tensor) else target.tensor).holds_values:
        video_options = {
            "--size": size,
            "--quality": quality,
            "--copy": copy or None,
            "--timestamps": timestamps_path,
        }
        _export_labels(target, selector, output_path, format_, video_options, json_)
        return
    from hubcli.core.export import ExportOptions, export_views, output_format, parse_size
    from hubcli.core.sample import SampleView

    options = ExportOptions(
        format=None if format_ is None else format_.value,
        size=None if size is None else parse_size(size),
        quality=quality,
        copy=copy,
    )
    several = not isinstance(target, SampleView)
    views = select_views(ds, selector)
    total = sum(len(v.frame_positions()[0]) for v in views)
    with output.progress("exporting", total) as advance:
        results = export_views(
            views, output_path, several=several, timestamps=timestamps_path,
            options=options, progress=advance, jobs=jobs, creds_file=creds_file,
        )  # fmt: skip
    emit(
        json_,
        {
            "selector": selector,
            "format": output_format(output_path, several=several, options=options),
            "files": [_file_entry(v.index, r) for v, r in zip(views, results, strict=True)],
        },
        [_line(r) for r in results],
    )


def _file_entry(index: int, result: ExportResult) -> dict[str, object]:
    entry: dict[str, object] = {
        "index": index,
        "path": result.path,
        "shape": list(result.shape),
        "timestamps": result.timestamps_path,
    }
    if result.paths:
        entry["paths"] = list(result.paths)
    return entry


def _line(result: ExportResult) -> str:
    size = output.human_bytes(result.nbytes)
    if result.format == "npy":
        return f"wrote {result.path} {result.shape} uint8 ({size})"
    files = f"{len(set(result.paths))} files, " if result.paths else ""
    return f"wrote {result.path} {result.shape} {result.format} ({files}{size})"


def _export_labels(
    target: Any,
    selector: str,
    output_path: str,
    format_: ExportFormat | None,
    video_options: Mapping[str, object],
    json_: bool,
) -> None:
    """A label tensor's selected values into one .npy, .jsonl or .npz file."""
    from hubcli.core.export_values import Selection, export_values, label_format

    selection = Selection.of(target)
    tensor = selection.tensor
    given = [name for name, value in video_options.items() if value is not None]
    if given:
        raise ExportError(
            f"{given[0]} applies to video frames, and {tensor.name!r} holds {tensor.htype} values",
            hint=f"drop {given[0]}",
        )
    fmt = label_format(output_path, None if format_ is None else format_.value, tensor)
    with output.progress("exporting", len(selection.positions)) as advance:
        result = export_values(selection, output_path, fmt, advance)
    shape = None if result.shape is None else list(result.shape)
    doc = {
        "selector": selector,
        "format": result.format,
        "files": [{"path": result.path, "samples": result.samples, "shape": shape}],
    }
    size = output.human_bytes(result.nbytes)
    if result.shape is not None:
        line = f"wrote {result.path} {result.shape} {result.dtype} ({size})"
    else:
        what = "value" if result.format == "jsonl" else "array"
        line = f"wrote {result.path} ({output.plural(result.samples, what)}, {size})"
    emit(json_, doc, [line])
