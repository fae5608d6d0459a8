"""``hubcli append-rows``: rows of several tensors (a video and its labels) from JSON
Lines, as one commit."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hubcli.cli import output
from hubcli.cli.app import app
from hubcli.cli.append_cmd import (
    byte_counter,
    local_size,
    observed_sources,
    read_list,
    value_position,
    video_sources,
)
from hubcli.cli.options import CredsOpt, DatasetArg, JsonOpt, QuietOpt, emit, open_dataset
from hubcli.errors import HubcliError, InvalidSampleError, TensorNotFoundError

if TYPE_CHECKING:
    import hubcli
    from hubcli.core.tensor import Appended, Tensor


@app.command("append-rows")
def append_rows(
    dataset: DatasetArg,
    rows: Annotated[
        str,
        typer.Argument(
            help='JSON Lines: one row a line, {"videos": "clips/a.mp4", "labels": "cat"} '
            "('-': stdin).",
            show_default=False,
        ),
    ],
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    creds_file: CredsOpt = None,
) -> None:
    """Append rows: one sample to each named tensor per line, all rows as ONE commit
    (all of them, or none if any row or video is bad).

    Each line is a JSON object of tensor name to value; every row names the same
    tensors. Videos are paths (relative to the current directory) or URLs; labels are
    JSON values (a class name or int, a string, any JSON, a nested list). Blank lines
    are skipped; no rows appends nothing (exit 0).

    Example: hubcli append-rows ./clips rows.jsonl
    """
    where = "stdin" if rows == "-" else rows
    table = _Table(where, read_list(rows, "rows file"))
    ds = open_dataset(dataset, creds_file, read_only=False)
    if not table.lines:  # a CI run with nothing new: no commit, no new version
        emit(json_, {"rows_added": 0, "version": ds.version, "tensors": {}}, ["nothing to append"])
        return
    table.parse(ds)
    tensors = {name: ds[name] for name in table.names}
    added = _append(ds, tensors, table)
    emit(json_, _result(ds, tensors, added, len(table.lines)), [_line(ds, added, table)])


@dataclass
class _Table:
    """The rows of a JSON Lines file, as columns (tensor name -> values in row order);
    ``lines`` are (text, line number) as read."""

    where: str
    lines: list[tuple[str, int]]
    names: list[str] = field(default_factory=list)
    columns: dict[str, list[Any]] = field(default_factory=dict)

    def line_of(self, row: int) -> str:
        return f"{self.where} line {self.lines[row][1]}"

    def error(self, number: int, problem: str, hint: str) -> InvalidSampleError:
        return InvalidSampleError(f"{self.where} line {number}: {problem}", hint=hint)

    def parse(self, ds: hubcli.Dataset) -> None:
        """Fill ``columns``; a row that is not an object, names an unknown tensor or
        other tensors than the first row, or gives a video no path, is an error naming
        its line."""
        videos: set[str] = set()
        for text, number in self.lines:
            row = self._row(text, number)
            if not self.names:
                self._first(ds, row, number)
                videos = {n for n in self.names if not ds[n].holds_values}
            self._check_names(row, number)
            for name in self.names:
                if name in videos:
                    self._check_video(name, row[name], number)
                self.columns[name].append(row[name])

    def _row(self, text: str, number: int) -> dict[str, Any]:
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise self.error(
                number,
                f"not JSON ({exc.msg} at column {exc.colno})",
                'write one object a line: {"videos": "clips/a.mp4", "labels": "cat"}',
            ) from None
        if not isinstance(row, dict) or not row:
            what = "an empty object" if row == {} else f"a JSON {_json_type(row)}"
            raise self.error(
                number,
                f"a row is an object of tensor name to value, not {what}",
                'write one object a line: {"videos": "clips/a.mp4", "labels": "cat"}',
            )
        return row

    def _first(self, ds: hubcli.Dataset, row: dict[str, Any], number: int) -> None:
        for name in row:
            if name not in ds:
                known = ", ".join(ds.tensors) or "none"
                raise TensorNotFoundError(
                    f"{self.where} line {number}: no tensor {name!r} in {ds.path} "
                    f"(tensors: {known})",
                    hint=f"create it with: hubcli create-tensor DATASET {name} --htype ...",
                )
        self.names = list(row)
        self.columns = {name: [] for name in row}

    def _check_names(self, row: dict[str, Any], number: int) -> None:
        first = self.lines[0][1]
        listed = ", ".join(self.names)
        missing = [n for n in self.names if n not in row]
        if missing:
            raise self.error(
                number,
                f"no value for {missing[0]!r} (the row of line {first} names {listed})",
                "give every row the same tensors",
            )
        extra = [n for n in row if n not in self.columns]
        if extra:
            raise self.error(
                number,
                f"{extra[0]!r} is not in the row of line {first} ({listed})",
                "give every row the same tensors",
            )

    def _check_video(self, name: str, value: Any, number: int) -> None:
        if not isinstance(value, str):
            raise self.error(
                number,
                f"tensor {name!r} takes a video path or URL, not a JSON {_json_type(value)}",
                f'write it as a string: "{name}": "clips/a.mp4"',
            )


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _append(ds: hubcli.Dataset, tensors: dict[str, Tensor], table: _Table) -> dict[str, Appended]:
    """One commit of every row; a failing row's error gets its line in front."""
    from hubcli.core.rows import extend_rows

    firsts = {name: len(t) for name, t in tensors.items()}
    videos = [(n, t) for n, t in tensors.items() if not t.holds_values and not t.is_link]
    names = [v for n, _ in videos for v in table.columns[n]]
    sizes = [local_size(v) for v in names]
    known = sum(s or 0 for s in sizes)
    columns: dict[str, list[Any]] = dict(table.columns)
    try:
        with output.file_progress("appending", len(names), known or None) as bar:
            start = 0
            for name, _ in videos:
                count = len(table.columns[name])
                sources = video_sources(ds, table.columns[name], None)
                columns[name] = observed_sources(sources, sizes[start : start + count], bar)
                start += count
            return extend_rows(ds, columns, byte_counter(bar))
    except HubcliError as exc:
        _name_row(exc, table, tensors, firsts)
        raise


def _name_row(
    exc: HubcliError, table: _Table, tensors: dict[str, Tensor], firsts: dict[str, int]
) -> None:
    """Put the failing row's line in front of an error: a video's (its position in the
    tensor's column is its row) or a value's (named by its index in the tensor)."""
    rows = len(table.lines)
    row = exc.source_index if exc.source_index is not None and exc.source_index < rows else None
    for name, tensor in tensors.items():
        if row is None and tensor.holds_values:
            row = value_position(exc, name, firsts[name], rows)
    if row is not None:
        exc.message = f"{table.line_of(row)}: {exc.message}"


def _result(
    ds: hubcli.Dataset, tensors: dict[str, Tensor], added: dict[str, Appended], rows: int
) -> dict[str, Any]:
    return {
        "rows_added": rows,
        "version": ds.version,
        "tensors": {
            name: {
                "samples_added": added[name].count,
                "bytes_added": added[name].nbytes,
                "length": len(tensor),
            }
            for name, tensor in tensors.items()
        },
    }


def _line(ds: hubcli.Dataset, added: dict[str, Appended], table: _Table) -> str:
    video = sum(added[n].nbytes for n in table.names if not ds[n].holds_values)
    of_video = f", {output.human_bytes(video)} of video" if video else ""
    return (
        f"appended {output.plural(len(table.lines), 'row')} to {', '.join(table.names)}"
        f"{of_video}; the dataset now has {output.plural(len(ds), 'row')}"
    )
