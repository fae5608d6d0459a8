"""``hubcli verify``: every checksum, every invariant."""

from __future__ import annotations

from typing import Annotated

import typer

from hubcli.cli import output
from hubcli.cli.app import app
from hubcli.cli.options import CredsOpt, DatasetArg, JsonOpt, QuietOpt, open_dataset


@app.command()
def verify(
    dataset: DatasetArg,
    deep: Annotated[bool, typer.Option(help="Also decode every frame.")] = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
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
        extra = f", {output.plural(report.frames_decoded, 'frame')} decoded" if deep else ""
        checked = output.human_bytes(report.bytes_checked)
        lines.append(
            f"{state}: {output.plural(report.samples, 'sample')}, {checked} checked{extra}"
        )
        if report.unreferenced:
            objects = output.plural(len(report.unreferenced), "unreferenced object")
            lines.append(f"{objects} left by interrupted writes (harmless; hubcli gc removes them)")
        if report.in_progress:
            # An append running now writes its objects before its commit names them.
            objects = output.plural(len(report.in_progress), "object")
            lines.append(
                f"{objects} written in the last hour that no version names yet: an append "
                "in progress (not damage; or, if none runs, left by one that was "
                "interrupted: hubcli gc removes them once they are an hour old)"
            )
        output.print_lines(lines)
    if not report.ok:
        raise typer.Exit(1)
