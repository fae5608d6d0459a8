"""``hubcli export``: selected frames written to files, streaming."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hubcli.cli import output
from hubcli.cli.app import app
from hubcli.cli.options import (
    CredsOpt,
    DatasetArg,
    JsonOpt,
    SelectorArg,
    emit,
    open_dataset,
    select_views,
)
from hubcli.errors import HubcliError

if TYPE_CHECKING:
    from hubcli.core.sample import SampleView


@app.command()
def export(
    dataset: DatasetArg,
    selector: SelectorArg,
    output_path: Annotated[
        Path, typer.Option("--output", "-o", help="OUT.npy, or a folder for several samples.")
    ],
    timestamps_path: Annotated[
        Path | None,
        typer.Option("--timestamps", help="Also write timestamps here (.npy, or a folder)."),
    ] = None,
    json_: JsonOpt = False,
    creds_file: CredsOpt = None,
) -> None:
    """Write the selected frames to .npy (uint8, (N, H, W, 3)), streaming.

    Several samples: one file per sample, <tensor>_<index>.npy, in the --output folder.
    Example: hubcli export ./clips 'videos[0, 100:200:5]' --output frames.npy
    """
    ds = open_dataset(dataset, creds_file)
    from hubcli.core.export import ExportResult, export_sample
    from hubcli.core.sample import SampleView

    target = ds.select(selector)
    several = not isinstance(target, SampleView)
    views = select_views(ds, selector)
    plans = _export_plan(views, output_path, timestamps_path, several)
    total = sum(len(v.frame_positions()[0]) for v in views)
    results: list[ExportResult] = []
    with output.progress("exporting", total) as advance:
        for view, (out, ts) in zip(views, plans, strict=True):
            results.append(export_sample(view, out, ts, progress=advance))
    files = [
        {"index": v.index, "path": r.path, "shape": list(r.shape), "timestamps": r.timestamps_path}
        for v, r in zip(views, results, strict=True)
    ]
    emit(
        json_,
        {"selector": selector, "files": files},
        [f"wrote {r.path} {r.shape} uint8 ({output.human_bytes(r.nbytes)})" for r in results],
    )


def _export_plan(
    views: list[SampleView], out: Path, ts: Path | None, several: bool
) -> list[tuple[Path, Path | None]]:
    if not several:
        return [(out, ts)]
    for folder in (out, ts):
        if folder is not None:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise HubcliError(
                    f"cannot create folder {folder}: {exc.strerror}",
                    hint="several samples export into a folder",
                ) from None
    names = [f"{v.tensor.name}_{v.index}.npy" for v in views]
    return [(out / name, ts / name if ts else None) for name in names]
