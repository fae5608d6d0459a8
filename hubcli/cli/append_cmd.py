"""``hubcli append``: videos (files, URLs, links) as one commit."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hubcli.cli import output
from hubcli.cli.app import app
from hubcli.cli.options import CredsOpt, DatasetArg, JsonOpt, emit, open_dataset
from hubcli.errors import HubcliError

if TYPE_CHECKING:
    import hubcli
    from hubcli.core.tensor import Tensor


@app.command()
def append(
    dataset: DatasetArg,
    tensor: Annotated[str, typer.Argument(help="Tensor to append to.")],
    sources: Annotated[
        list[str] | None, typer.Argument(help="Video files.", show_default=False)
    ] = None,
    from_file: Annotated[
        str | None, typer.Option("--from-file", help="File with one source a line ('-': stdin).")
    ] = None,
    creds_key: Annotated[
        str | None,
        typer.Option(
            "--creds-key",
            help="Key whose secrets read the sources (link tensors: stored with each "
            "link); ENV: the environment.",
        ),
    ] = None,
    json_: JsonOpt = False,
    creds_file: CredsOpt = None,
) -> None:
    """Append videos (files or URLs; links for link[video] tensors) as one commit: all
    of them, or none if any is bad.

    Example: hubcli append ./clips videos a.mp4 https://example.com/b.mp4
    """
    listed = _read_source_list(from_file) if from_file else []
    all_sources: list[tuple[str, int | None]] = [(s, None) for s in sources or []]
    all_sources += listed
    if not all_sources:
        raise typer.BadParameter("give video files or --from-file LIST", param_hint="SOURCE")
    ds = open_dataset(dataset, creds_file, read_only=False)
    target = ds[tensor]
    samples = _samples(ds, target, [s for s, _ in all_sources], creds_key)
    total = sum(_size(s) for s, _ in all_sources)
    try:
        with output.progress("appending", 2 * total or None, in_bytes=True) as advance:
            added = target.extend(samples, progress=advance)
    except HubcliError as exc:
        _name_list_line(exc, all_sources, from_file)
        raise
    result = {
        "tensor": tensor,
        "samples_added": added.count,
        "bytes_added": added.nbytes,
        "length": len(target),
        "version": ds.version,
    }
    what = "linked" if target.is_link else "appended"
    line = f"{what} {added.count} samples ({output.human_bytes(added.nbytes)}) to {tensor!r}"
    emit(json_, result, [f"{line}; it now has {len(target)}"])


def _samples(ds: hubcli.Dataset, target: Tensor, sources: list[str], key: str | None) -> list[Any]:
    """What to append: links carrying ``key`` for a link tensor; else paths, and URLs read
    with ``key``'s secrets."""
    if target.is_link:
        return [hubcli.link(s, creds_key=key) for s in sources]
    if key is None:
        return list(sources)
    secrets, use_env = ds.secrets_for(key)
    creds = None if use_env else secrets
    return [hubcli.read(s, creds=creds) for s in sources]


def _read_source_list(spec: str) -> list[tuple[str, int]]:
    """Sources from a list file or stdin: one a line, '#' comments and blanks skipped."""
    try:
        text = sys.stdin.read() if spec == "-" else Path(spec).read_text()
    except OSError as exc:
        raise HubcliError(f"cannot read source list {spec}: {exc.strerror}") from None
    sources = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            sources.append((line, number))
    return sources


def _name_list_line(
    exc: HubcliError, sources: Sequence[tuple[str, int | None]], from_file: str | None
) -> None:
    """Add '(LIST line N)' to the error of a source that came from a list."""
    if exc.source_index is None or exc.source_index >= len(sources):
        return
    line = sources[exc.source_index][1]
    if line is not None:
        where = "stdin" if from_file == "-" else from_file
        exc.message = f"{exc.message} ({where} line {line})"


def _size(source: str) -> int:
    """A local source's size, for the progress bar; URLs count as they download."""
    try:
        return Path(source).stat().st_size
    except OSError:
        return 0
