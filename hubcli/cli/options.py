"""What the commands share: argument and option types, opening a dataset, emitting a
result. Nothing heavy is imported here (see app.py)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hubcli.cli import output
from hubcli.errors import CredentialsError
from hubcli.format.manifest import HTYPES, SAMPLE_COMPRESSIONS

if TYPE_CHECKING:
    import hubcli
    from hubcli.core.sample import SampleView


class Htype(StrEnum):
    video = "video"
    link = "link[video]"


class Compression(StrEnum):
    mp4 = "mp4"
    mov = "mov"
    mkv = "mkv"
    webm = "webm"
    avi = "avi"


# The CLI's choices must be the format's: a test would catch drift, this fails at import.
assert {h.value for h in Htype} == set(HTYPES)
assert {c.value for c in Compression} == set(SAMPLE_COMPRESSIONS)

DatasetArg = Annotated[str, typer.Argument(help="Dataset path.", show_default=False)]
SelectorArg = Annotated[
    str, typer.Argument(help="What to select, e.g. videos, videos[0], 'videos[0, 10:20:2]'.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
CredsOpt = Annotated[
    Path | None,
    typer.Option(
        "--creds-file",
        help="JSON credentials of a remote dataset (else the environment's AWS_* / GOOGLE_*).",
        show_default=False,
    ),
]


def emit(json_: bool, document: dict[str, Any], lines: list[str]) -> None:
    if json_:
        output.print_json(document)
    else:
        output.print_lines(lines)


def select_views(ds: hubcli.Dataset, selector: str) -> list[SampleView]:
    """Every sample view the selector names (a tensor: all of its samples)."""
    from hubcli.core.sample import SampleView

    target = ds.select(selector)
    return [target] if isinstance(target, SampleView) else located(target)


def located(views: Iterable[SampleView]) -> list[SampleView]:
    """The views, each located in its segment as the list grows: a length the segments
    do not back (a damaged manifest) fails at the first missing sample, before the list
    holds more views than the dataset has samples."""
    found = []
    for view in views:
        view.record()
        found.append(view)
    return found


def read_creds(path: Path | None) -> dict[str, Any] | None:
    """The JSON object in ``path``; its values never appear in a message."""
    if path is None:
        return None
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise CredentialsError(f"cannot read credentials file {path}: {exc.strerror}") from None
    except ValueError:
        raise CredentialsError(
            f"credentials file {path} is not valid JSON",
            hint='write {"aws_access_key_id": "...", ...}',
        ) from None
    if not isinstance(data, dict):
        raise CredentialsError(f"credentials file {path} must hold a JSON object")
    return data


def open_dataset(path: str, creds_file: Path | None, *, read_only: bool = True) -> hubcli.Dataset:
    """The dataset at ``path`` with the credentials of ``--creds-file`` (or the
    environment's): the preamble of almost every command."""
    import hubcli

    return hubcli.load(path, creds=read_creds(creds_file), read_only=read_only)
