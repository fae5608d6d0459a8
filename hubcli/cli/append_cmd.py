"""``hubcli append``: videos (files, URLs, links) as one commit."""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

import hubcli  # light: its names load on first use
from hubcli.cli import output
from hubcli.cli.app import app
from hubcli.cli.options import CredsOpt, DatasetArg, JsonOpt, QuietOpt, emit, open_dataset
from hubcli.errors import HubcliError, InvalidSampleError

if TYPE_CHECKING:
    from hubcli.core.sources import VideoSource
    from hubcli.core.tensor import Appended, Tensor


@app.command()
def append(
    dataset: DatasetArg,
    tensor: Annotated[str, typer.Argument(help="Tensor to append to.")],
    sources: Annotated[
        list[str] | None,
        typer.Argument(
            help="Video files or URLs; for a label tensor, values (cat 2 dog; JSON text for "
            "json and generic tensors).",
            show_default=False,
        ),
    ] = None,
    from_file: Annotated[
        str | None,
        typer.Option(
            "--from-file",
            help="File with one source (or value) a line ('-': stdin); blank lines and '#' "
            "comments are skipped.",
        ),
    ] = None,
    creds_key: Annotated[
        str | None,
        typer.Option(
            "--creds-key",
            help="Key whose secrets read the sources (link tensors: stored with each "
            "link); ENV: the environment.",
        ),
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Index, check and store the videos in N processes (still one commit, in "
            "the order given).",
        ),
    ] = 1,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    creds_file: CredsOpt = None,
) -> None:
    """Append videos (files or URLs; links for link[video] tensors), or values to a
    label tensor, as one commit: all of them, or none if any is bad. An empty
    --from-file list appends nothing (exit 0).

    Values: class_label takes ints and class names (a JSON list for several labels:
    '[0, "dog"]'), text the string, json and generic JSON text ('{"a": 1}', '[[1, 2]]').

    Example: hubcli append ./clips videos a.mp4 https://example.com/b.mp4
    Example: hubcli append ./clips labels cat 2 dog
    Example: hubcli append ./clips videos --from-file list.txt --jobs 4
    """
    listed = read_list(from_file, "source list") if from_file else []
    all_sources: list[tuple[str, int | None]] = [(s, None) for s in sources or []]
    all_sources += listed
    if not all_sources and from_file is None:
        raise typer.BadParameter(
            "give video files or --from-file LIST (label tensors: values)", param_hint="SOURCE"
        )
    ds = open_dataset(dataset, creds_file, read_only=False)
    target = ds[tensor]
    if target.holds_values and all_sources:
        added = append_values(target, all_sources, from_file, creds_key)
        line = (
            f"appended {output.plural(added.count, 'value')} to {tensor!r}; "
            f"it now has {len(target)}"
        )
        emit(json_, _result(ds, target, added.count, added.nbytes), [line])
        return
    if not all_sources:  # a CI run with nothing new: no commit, no new version
        emit(json_, _result(ds, target, 0, 0), ["nothing to append"])
        return
    names = [s for s, _ in all_sources]
    sizes = [local_size(s) for s in names]
    verb = "linking" if target.is_link else "appending"
    known = sum(size or 0 for size in sizes)
    try:
        videos = [] if target.is_link else checked(video_sources(ds, names, creds_key))
        with output.file_progress(verb, len(names), known or None) as bar:
            if jobs > 1:
                added = _append_parallel(target, names, sizes, creds_key, jobs, bar, creds_file)
            else:
                added = _append_here(target, names, videos, sizes, creds_key, bar)
    except HubcliError as exc:
        _name_list_line(exc, all_sources, from_file)
        raise
    what = "linked" if target.is_link else "appended"
    line = (
        f"{what} {output.plural(added.count, 'sample')} ({output.human_bytes(added.nbytes)}) "
        f"to {tensor!r}; it now has {len(target)}"
    )
    emit(json_, _result(ds, target, added.count, added.nbytes), [line])


def _append_here(
    target: Tensor,
    names: list[str],
    videos: list[VideoSource],
    sizes: list[int | None],
    creds_key: str | None,
    bar: output.FileProgress,
) -> Appended:
    """The append in this process: the bar follows each file as it starts."""
    if target.is_link:
        samples: list[Any] = [hubcli.link(s, creds_key=creds_key) for s in names]
        advance = _link_counter(bar, names)
    else:
        samples = observed_sources(videos, sizes, bar)
        advance = byte_counter(bar)
    return target.extend(samples, progress=advance)


def _append_parallel(
    target: Tensor,
    names: list[str],
    sizes: list[int | None],
    creds_key: str | None,
    jobs: int,
    bar: output.FileProgress,
    creds_file: Path | None,
) -> Appended:
    """``--jobs N``: the files go to N worker processes as names (a worker reads URLs
    with ``creds_key``'s secrets itself); the bar counts files as they are stored."""
    from hubcli.core import parallel

    samples: list[Any] = names
    if target.is_link:
        samples = [hubcli.link(s, creds_key=creds_key) for s in names]
        creds_key = None  # each link carries it
    done = 0

    def on_file(position: int, nbytes: int) -> None:
        nonlocal done
        done += nbytes
        if sizes[position] is None:
            bar.add_total(nbytes)
        bar.set_completed(done)
        bar.start(names[position])  # "appending file 3/9": three are stored

    return parallel.extend(
        target, samples, jobs=jobs, creds_key=creds_key, on_file=on_file, creds_file=creds_file
    )


def _result(ds: hubcli.Dataset, target: Tensor, count: int, nbytes: int) -> dict[str, Any]:
    return {
        "tensor": target.name,
        "samples_added": count,
        "bytes_added": nbytes,
        "length": len(target),
        "version": ds.version,
    }


def video_sources(ds: hubcli.Dataset, names: list[str], key: str | None) -> list[VideoSource]:
    """Paths and URLs, the URLs read with ``key``'s secrets (None: the environment's)."""
    creds = None if key is None else ds.credentials_for(key)
    return [hubcli.read(s, creds=creds) for s in names]


def checked(sources: list[VideoSource]) -> list[VideoSource]:
    """``sources``, each checked before any progress is shown: a missing file of a
    long list is one error line, not the error after a screen of progress."""
    for index, source in enumerate(sources):
        try:
            source.check()
        except HubcliError as exc:
            exc.source_index = index
            raise
    return sources


def observed_sources(
    sources: list[VideoSource], sizes: list[int | None], bar: output.FileProgress
) -> list[VideoSource]:
    """Each source tells ``bar`` when it starts, and (a URL) its size once downloaded."""
    from hubcli.core.sources import ObservedSource

    def on_size(known: int | None) -> Callable[[int], None]:
        return (lambda n: None) if known is not None else bar.add_total

    return [
        ObservedSource(source, functools.partial(bar.start, source.name), on_size(size))
        for source, size in zip(sources, sizes, strict=True)
    ]


def byte_counter(bar: output.FileProgress) -> Callable[[int], None]:
    """Tensor.extend reports each source's bytes twice, as it indexes and as it copies
    them: half of what it reports is the bytes done, as the final line counts them."""
    reported = 0

    def advance(nbytes: int) -> None:
        nonlocal reported
        reported += nbytes
        bar.set_completed(reported // 2)

    return advance


def _link_counter(bar: output.FileProgress, names: list[str]) -> Callable[[int], None]:
    """Tensor.extend reports a link once, with its size, when it is indexed: the next
    link starts then."""
    bar.start(names[0])
    done = 0

    def advance(nbytes: int) -> None:
        nonlocal done
        done += nbytes
        bar.set_completed(done)
        if bar.current < len(names):
            bar.start(names[bar.current])

    return advance


def read_list(spec: str, what: str) -> list[tuple[str, int]]:
    """Lines of a list file or stdin (``what`` names it in an error), each with its line
    number: one item a line, stripped, '#' comments and blank lines skipped (CRLF line
    ends too)."""
    try:
        text = sys.stdin.read() if spec == "-" else Path(spec).read_text(encoding="utf-8")
    except OSError as exc:
        raise HubcliError(f"cannot read {what} {spec}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise HubcliError(f"{what} {spec} is not UTF-8 text", hint="save it as UTF-8") from None
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


def local_size(source: str) -> int | None:
    """A local source's size, for the progress bar; None for a URL (known once fetched)."""
    try:
        return Path(source).stat().st_size
    except (OSError, ValueError):
        return None


# --- values, for label tensors ----------------------------------------------------------

#: An int as a class label (else the argument is a class name).
_INT = re.compile(r"[+-]?[0-9]+")
#: The index a value error names: "labels[12]: ..." (hubcli.core.values.Converter).
_WHERE = re.compile(r"^(?P<tensor>.+?)\[(?P<index>[0-9]+)\]: ")


def append_values(
    target: Tensor,
    items: Sequence[tuple[str, int | None]],
    from_file: str | None,
    creds_key: str | None,
) -> Appended:
    """Append command-line or list values to label tensor ``target`` (one commit); an
    error names the value's argument position or list line besides its index."""
    wheres = [_value_where(n, line, from_file) for n, (_, line) in enumerate(items, start=1)]
    first = len(target)
    values = [
        parse_value(target, text, f"{target.name}[{first + k}] ({where})")
        for k, ((text, _), where) in enumerate(zip(items, wheres, strict=True))
    ]
    try:
        return target.extend(values, creds_key=creds_key)
    except HubcliError as exc:
        name_value(exc, target.name, first, wheres)
        raise


def _value_where(position: int, line: int | None, from_file: str | None) -> str:
    if line is None:
        return f"value {position} on the command line"
    return f"{'stdin' if from_file == '-' else from_file} line {line}"


def parse_value(target: Tensor, text: str, where: str) -> Any:
    """A label value from its text: class_label an int when it reads as one, a JSON list
    for several labels, else a class name; text the string; json and generic JSON.
    ``where`` starts the error of text that is not JSON ("labels[4] (ROWS line 2)")."""
    htype = target.htype
    if htype == "text":
        return text
    if htype == "class_label":
        if _INT.fullmatch(text):
            return int(text)
        if text.startswith("["):
            return _json_value(target, text, where, '[0, "dog"]')
        return text
    example = "'{\"a\": 1}' or '\"a string\"'" if htype == "json" else "'[[1, 2], [3, 4]]'"
    return _json_value(target, text, where, example)


def _json_value(target: Tensor, text: str, where: str, example: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise InvalidSampleError(
            f"{where}: not JSON for a {target.htype} tensor "
            f"({exc.msg} at column {exc.colno}): {shown!r}",
            hint=f"give JSON text, e.g. {example} (quote it for the shell)",
        ) from None


def name_value(exc: HubcliError, tensor: str, first: int, wheres: Sequence[str]) -> None:
    """Add where a bad value came from ("value 2 on the command line", "LIST line 7") to
    an error that names its index in ``tensor``."""
    position = value_position(exc, tensor, first, len(wheres))
    if position is not None:
        exc.message = f"{exc.message} ({wheres[position]})"


def value_position(exc: HubcliError, tensor: str, first: int, count: int) -> int | None:
    """Which of ``count`` values appended to ``tensor`` from index ``first`` on an error
    is about (None: not one of them)."""
    found = _WHERE.match(exc.message)
    if found is None or found["tensor"] != tensor:
        return None
    position = int(found["index"]) - first
    return position if 0 <= position < count else None
