"""History and housekeeping: ``log``, ``compact``, ``gc``, ``delete``, ``delete-tensor``,
``rename-tensor`` (format_spec/log.md)."""

from __future__ import annotations

import re
from typing import Annotated, Any

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
)
from hubcli.errors import SelectorError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, option: str) -> float:
    """``90``, ``45s``, ``30m``, ``12h``, ``7d``, ``2w`` -> seconds."""
    m = _DURATION.fullmatch(text)
    if m is None:
        raise typer.BadParameter(
            f"{text!r} is not a duration (e.g. 90s, 30m, 12h, 7d, 2w)", param_hint=option
        )
    return float(m.group(1)) * _UNITS[m.group(2)]


@app.command("log")
def log_command(
    dataset: DatasetArg,
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", help="Show the newest N versions only.")
    ] = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    creds_file: CredsOpt = None,
) -> None:
    """List the kept versions, newest first: number, time and what changed.

    Example: hubcli log ./clips -n 10
    """
    ds = open_dataset(dataset, creds_file)
    entries = ds.log() if limit is None else ds.log()[:limit]
    if json_:
        output.print_json({"path": ds.path, "versions": entries})
        return
    output.print_rows(
        [
            [e["version"], e["created_at"], _describe(e["changes"])]
            + ([e["message"]] if e["message"] else [])
            for e in entries
        ]
    )


def _describe(changes: list[dict[str, Any]]) -> str:
    parts = []
    for c in changes:
        op = c["op"]
        if op == "append":
            parts.append(f"{c['tensor']} +{c['samples_added']}")
        elif op == "delete":
            parts.append(f"{c['tensor']} -{c['samples_removed']}")
        elif op == "compact":
            parts.append(f"{c['tensor']} compacted")
        elif op == "create_tensor":
            parts.append(f"created tensor {c['tensor']} ({c['htype']})")
        elif op == "delete_tensor":
            parts.append(f"deleted tensor {c['tensor']}")
        elif op == "rename_tensor":
            parts.append(f"renamed tensor {c['from']} to {c['tensor']}")
        elif op == "add_creds_key":
            parts.append(f"added creds key {c['key']}")
        elif op == "manage_creds_key":
            parts.append(f"made creds key {c['key']} managed")
        elif op == "set_info":
            parts.append(f"{c['tensor']} info (class names, dtype)")
        elif op == "upgrade":
            parts.append(f"format upgraded to {c['format_version']}")
        else:
            parts.append("changed")
    return ", ".join(parts) or "created the dataset"


@app.command()
def compact(
    dataset: DatasetArg,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    creds_file: CredsOpt = None,
) -> None:
    """Merge small segments and drop removed samples now (one commit that changes no
    sample; commits also compact on their own).

    Example: hubcli compact ./clips
    """
    ds = open_dataset(dataset, creds_file, read_only=False)
    changed = ds.compact()
    line = f"compacted; now at version {ds.version}" if changed else "already compact"
    emit(json_, {"path": ds.path, "compacted": changed, "version": ds.version}, [line])


@app.command()
def gc(
    dataset: DatasetArg,
    keep_versions: Annotated[
        int | None,
        typer.Option("--keep-versions", min=1, help="Keep the newest N versions."),
    ] = None,
    older_than: Annotated[
        str | None,
        typer.Option("--older-than", help="Remove versions older than this (e.g. 7d, 12h)."),
    ] = None,
    safety_window: Annotated[
        str,
        typer.Option(
            "--safety-window",
            help="Never remove objects younger than this: appends in flight write them.",
        ),
    ] = "1h",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would go.")] = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    creds_file: CredsOpt = None,
) -> None:
    """Remove old versions and what no kept version needs (and leftovers of
    interrupted writes); print what was removed and the bytes freed.

    Example: hubcli gc ./clips --keep-versions 10 --older-than 30d
    """
    window = parse_duration(safety_window, "--safety-window")
    age = None if older_than is None else parse_duration(older_than, "--older-than")
    if window == 0 and not dry_run:
        output.warn(
            "--safety-window 0 removes objects of appends still in progress in other "
            "processes: run it only when nothing else writes to this dataset"
        )
    ds = open_dataset(dataset, creds_file, read_only=False)
    report = ds.gc(
        keep_versions=keep_versions, older_than=age, safety_window=window, dry_run=dry_run
    )
    verb = "would remove" if dry_run else "removed"
    lines = [f"{verb} {key}" for key in report["removed"]]
    freed = output.human_bytes(report["bytes_freed"])
    summary = f"{verb} {output.plural(report['objects_removed'], 'object')} ({freed}); "
    summary += f"kept versions {report['oldest_kept']}-{report['newest']}"
    if report["spared_young"]:
        summary += f"; spared {report['spared_young']} younger than the safety window"
    lines.append(summary)
    emit(json_, report, lines)


@app.command()
def delete(
    dataset: DatasetArg,
    selector: SelectorArg,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    creds_file: CredsOpt = None,
) -> None:
    """Remove samples (later ones shift down), as one commit: videos[3], videos[2:5],
    videos[[1, 4]]. gc frees their bytes once no kept version needs them.

    Example: hubcli delete ./clips 'videos[3]'
    """
    from hubcli.core.sample import SampleView
    from hubcli.core.tensor import Tensor
    from hubcli.core.value_view import ValuesView, ValueView

    ds = open_dataset(dataset, creds_file, read_only=False)
    target = ds.select(selector)
    if isinstance(target, Tensor):
        raise SelectorError(
            f"delete takes samples, not a whole tensor: {selector!r}",
            hint="use hubcli delete-tensor to remove a tensor, or select samples: videos[0:3]",
        )
    if getattr(target, "rest", ()):
        raise SelectorError(
            f"delete removes whole samples, not frames: {selector!r}",
            hint="drop the frame index",
        )
    if isinstance(target, (SampleView, ValueView)):
        indices = [target.index]
    elif isinstance(target, ValuesView):
        indices = [int(p) for p in target.positions]
    else:
        indices = list(target.indices)
    tensor = target.tensor
    if indices:
        del tensor[indices]
    doc = {"tensor": tensor.name, "removed": indices, "length": len(tensor), "version": ds.version}
    emit(
        json_,
        doc,
        [
            f"removed {output.plural(len(indices), 'sample')} from {tensor.name!r}; "
            f"it now has {len(tensor)}"
        ],
    )


@app.command("delete-tensor")
def delete_tensor(
    dataset: DatasetArg,
    name: Annotated[str, typer.Argument(help="Tensor to remove.")],
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    creds_file: CredsOpt = None,
) -> None:
    """Remove a tensor (one commit; gc frees its objects).

    Example: hubcli delete-tensor ./clips old_videos
    """
    ds = open_dataset(dataset, creds_file, read_only=False)
    ds.delete_tensor(name)
    emit(json_, {"tensor": name, "version": ds.version}, [f"deleted tensor {name!r}"])


@app.command("rename-tensor")
def rename_tensor(
    dataset: DatasetArg,
    old: Annotated[str, typer.Argument(help="Current name.")],
    new: Annotated[str, typer.Argument(help="New name.")],
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    creds_file: CredsOpt = None,
) -> None:
    """Rename a tensor (one commit; nothing is copied).

    Example: hubcli rename-tensor ./clips videos clips
    """
    ds = open_dataset(dataset, creds_file, read_only=False)
    ds.rename_tensor(old, new)
    emit(
        json_,
        {"tensor": new, "from": old, "version": ds.version},
        [f"renamed tensor {old!r} to {new!r}"],
    )
