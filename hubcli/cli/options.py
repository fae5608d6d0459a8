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
from hubcli.errors import CredentialsError, SelectorError

if TYPE_CHECKING:
    import hubcli
    from hubcli.core.sample import SampleView


class Htype(StrEnum):
    video = "video"
    link = "link[video]"
    class_label = "class_label"
    text = "text"
    json = "json"
    generic = "generic"


class Compression(StrEnum):
    mp4 = "mp4"
    mov = "mov"
    mkv = "mkv"
    webm = "webm"
    avi = "avi"


# The CLI's choices must be the format's (hubcli.format.manifest HTYPES and
# SAMPLE_COMPRESSIONS): tests/cli/test_labels_cli.py checks it. Not asserted here: the
# format modules load numpy and msgpack, which start-up must not (tests/cli/test_startup.py).

DatasetArg = Annotated[str, typer.Argument(help="Dataset path.", show_default=False)]
SelectorArg = Annotated[
    str, typer.Argument(help="What to select, e.g. videos, videos[0], 'videos[0, 10:20:2]'.")
]


def _json_option(value: bool) -> bool:
    """``--json`` after the command, or before it (the global option) as well."""
    if value:
        output.SETTINGS.json = True  # errors of this command are JSON lines too
    return value or output.SETTINGS.json


def _quiet_option(value: bool) -> bool:
    if value:
        output.SETTINGS.quiet = True
    return value


JsonOpt = Annotated[
    bool,
    typer.Option("--json", callback=_json_option, help="Results and errors as JSON."),
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", callback=_quiet_option, help="No progress.")
]
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
    """Every sample view the selector names (a tensor: all of its samples) of a video
    tensor; a label tensor's selector is an error pointing to ``hubcli show``."""
    from hubcli.core.sample import SampleView

    target = ds.select(selector)
    refuse_labels(target, selector)
    return [target] if isinstance(target, SampleView) else located(target)


def refuse_labels(target: Any, selector: str) -> None:
    """A command about videos (frames, timestamps, sample_info) given a label tensor."""
    from hubcli.core.tensor import Tensor

    tensor = target if isinstance(target, Tensor) else target.tensor
    if tensor.holds_values:
        raise SelectorError(
            f"tensor {tensor.name!r} holds {tensor.htype} values, not videos: {selector!r}",
            hint=f"print them with: hubcli show DATASET {selector!r}",
        )


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
