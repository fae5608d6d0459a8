"""``hubcli verify``: every checksum, every invariant."""

from __future__ import annotations

from typing import Annotated

import typer

from hubcli.cli import output
from hubcli.cli.app import app
from hubcli.cli.options import CredsOpt, DatasetArg, JsonOpt, open_dataset


@app.command()
def verify(
    dataset: DatasetArg,
    deep: Annotated[bool, typer.Option(help="Also decode every frame.")] = False,
    json_: JsonOpt = False,
    creds_file: CredsOpt = None,
) -> None:
    """Check every checksum (manifest, segments, frame tables, chunks, samples, packets);
    exit 1 if anything is corrupt.

    Example: hubcli verify ./clips --deep
    """
    ds = open_dataset(dataset, creds_file)
    from hubcli.core.verify import verify as run_verify

    total = sum(len(t) for t in ds.tensors.values())
    with output.progress("verifying", total) as advance:
        report = run_verify(ds, deep=deep, progress=advance)
    if json_:
        output.print_json(report.to_dict())
    else:
        lines = [
            f"{p.tensor}[{p.index}]: {p.reason}"
            if p.index is not None
            else f"{p.tensor}: {p.reason}"
            if p.tensor
            else p.reason
            for p in report.problems
        ]
        state = "ok" if report.ok else f"{len(report.problems)} corrupt"
        extra = f", {report.frames_decoded} frames decoded" if deep else ""
        checked = output.human_bytes(report.bytes_checked)
        lines.append(f"{state}: {report.samples} samples, {checked} checked{extra}")
        if report.unreferenced:
            count = len(report.unreferenced)
            lines.append(
                f"{count} unreferenced objects (left by interrupted writes; harmless; "
                "hubcli gc removes them)"
            )
        if report.in_progress:
            count = len(report.in_progress)
            lines.append(
                f"{count} unreferenced objects younger than an hour (an append in progress?)"
            )
        output.print_lines(lines)
    if not report.ok:
        raise typer.Exit(1)
