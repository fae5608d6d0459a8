"""One function per command: parse, call the Python API, render."""

from __future__ import annotations

import json
import sys
import time
import webbrowser
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

import hubcli
from hubcli.cli import app, output
from hubcli.core.export import ExportResult, export_sample
from hubcli.core.sample import SampleView
from hubcli.core.tensor import Tensor
from hubcli.core.verify import verify as run_verify
from hubcli.errors import CredentialsError, HubcliError, SelectorError
from hubcli.format.manifest import HTYPES, SAMPLE_COMPRESSIONS
from hubcli.serve.server import PlaybackServer


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


@app.command()
def create(
    dataset: DatasetArg,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing hubcli dataset.")] = False,
    json_: JsonOpt = False,
    creds_file: CredsOpt = None,
) -> None:
    """Create an empty dataset.

    Example: hubcli create ./clips
    """
    ds = hubcli.empty(dataset, overwrite=overwrite, creds=read_creds(creds_file))
    result = {"path": ds.path, "version": ds.version, "format_version": ds.manifest.format_version}
    _emit(json_, result, [f"created an empty dataset at {ds.path}"])


@app.command("create-tensor")
def create_tensor(
    dataset: DatasetArg,
    name: Annotated[str, typer.Argument(help="Tensor name, e.g. videos.")],
    htype: Annotated[Htype, typer.Option(help="Type of the samples.")] = Htype.video,
    sample_compression: Annotated[
        Compression | None,
        typer.Option(
            help="Container every sample must be [default: mp4; links: any].", show_default=False
        ),
    ] = None,
    json_: JsonOpt = False,
    creds_file: CredsOpt = None,
) -> None:
    """Create an empty tensor.

    Example: hubcli create-tensor ./clips videos --sample-compression mkv
    """
    ds = hubcli.load(dataset, creds=read_creds(creds_file))
    compression = sample_compression.value if sample_compression else None
    tensor = ds.create_tensor(name, htype=htype.value, sample_compression=compression)
    result = {
        "tensor": name,
        "htype": tensor.htype,
        "sample_compression": tensor.sample_compression,
    }
    _emit(
        json_,
        {**result, "version": ds.version},
        [f"created tensor {name!r} ({tensor.htype}, {tensor.sample_compression})"],
    )


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
    ds = hubcli.load(dataset, creds=read_creds(creds_file))
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
    _emit(json_, result, [f"{line}; it now has {len(target)}"])


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


@app.command()
def info(
    dataset: DatasetArg,
    selector: Annotated[
        str | None, typer.Argument(help="A tensor or sample, e.g. videos[0].")
    ] = None,
    json_: JsonOpt = False,
    creds_file: CredsOpt = None,
) -> None:
    """Summarise a dataset, a tensor, or a sample's metadata (no decoding).

    Example: hubcli info ./clips 'videos[0]'
    """
    ds = hubcli.load(dataset, creds=read_creds(creds_file), read_only=True)
    if selector is None:
        _dataset_info(ds, json_)
        return
    target = ds.select(selector)
    if isinstance(target, Tensor):
        _tensor_info(target, json_)
    elif target.rest:
        raise SelectorError(
            f"info describes tensors and samples, not frames: {selector!r}",
            hint="drop the frame index, or use hubcli shape / timestamps",
        )
    elif isinstance(target, SampleView):
        _sample_info([target], json_, single=True)
    else:
        _sample_info(_located(target), json_, single=False)


@app.command()
def shape(
    dataset: DatasetArg, selector: SelectorArg, json_: JsonOpt = False, creds_file: CredsOpt = None
) -> None:
    """Print the shape of what the selector names, from the index (no decoding).

    One line per sample, numbers separated by spaces.
    Example: hubcli shape ./clips 'videos[0, ::2]'  ->  200 360 640 3
    """
    views = _views(hubcli.load(dataset, creds=read_creds(creds_file), read_only=True), selector)
    shapes = [v.shape for v in views]
    if json_:
        output.print_json(
            {
                "selector": selector,
                "samples": [
                    {"index": v.index, "shape": list(s)} for v, s in zip(views, shapes, strict=True)
                ],
            }
        )
    else:
        output.print_lines([" ".join(str(d) for d in s) for s in shapes])


@app.command()
def timestamps(
    dataset: DatasetArg, selector: SelectorArg, json_: JsonOpt = False, creds_file: CredsOpt = None
) -> None:
    """Print the presentation timestamps (seconds) of the selected frames.

    One value a line; for several samples, 'INDEX SECONDS' a line.
    Example: hubcli timestamps ./clips 'videos[0, 10:15]'
    """
    views = _views(hubcli.load(dataset, creds=read_creds(creds_file), read_only=True), selector)
    times = [np.atleast_1d(np.asarray(v.timestamp, dtype=np.float64)) for v in views]
    if json_:
        output.print_json(
            {
                "selector": selector,
                "samples": [
                    {"index": v.index, "timestamps": t.tolist()}
                    for v, t in zip(views, times, strict=True)
                ],
            }
        )
    elif len(views) == 1:
        output.print_lines([repr(float(t)) for t in times[0]])
    else:
        output.print_lines(
            [f"{v.index} {float(t)!r}" for v, ts in zip(views, times, strict=True) for t in ts]
        )


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
    ds = hubcli.load(dataset, creds=read_creds(creds_file), read_only=True)
    target = ds.select(selector)
    several = not isinstance(target, SampleView)
    views = _views(ds, selector)
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
    _emit(
        json_,
        {"selector": selector, "files": files},
        [f"wrote {r.path} {r.shape} uint8 ({output.human_bytes(r.nbytes)})" for r in results],
    )


# --- helpers ----------------------------------------------------------------------------


def _emit(json_: bool, document: dict[str, Any], lines: list[str]) -> None:
    if json_:
        output.print_json(document)
    else:
        output.print_lines(lines)


def _views(ds: hubcli.Dataset, selector: str) -> list[SampleView]:
    """Every sample view the selector names (a tensor: all of its samples)."""
    target = ds.select(selector)
    return [target] if isinstance(target, SampleView) else _located(target)


def _located(views: Iterable[SampleView]) -> list[SampleView]:
    """The views, each located in its segment as the list grows: a length the segments
    do not back (a damaged manifest) fails at the first missing sample, before the list
    holds more views than the dataset has samples."""
    located = []
    for view in views:
        view.record()
        located.append(view)
    return located


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


def _dataset_info(ds: hubcli.Dataset, json_: bool) -> None:
    tensors = [
        {
            "name": t.name,
            "htype": t.htype,
            "sample_compression": t.sample_compression,
            "length": len(t),
        }
        for t in ds.tensors.values()
    ]
    doc = {
        "path": ds.path,
        "version": ds.version,
        "format_version": ds.manifest.format_version,
        "dataset_id": ds.manifest.dataset_id,
        "tensors": tensors,
    }
    if json_:
        output.print_json(doc)
        return
    title = f"{ds.path} (version {ds.version}, format {doc['format_version']})"
    output.print_table(
        title,
        ["tensor", "htype", "compression", "samples"],
        [[t["name"], t["htype"], t["sample_compression"], t["length"]] for t in tensors],
    )


def _tensor_info(tensor: Tensor, json_: bool) -> None:
    infos = [s.sample_info for s in tensor]
    doc = {
        "name": tensor.name,
        "htype": tensor.htype,
        "sample_compression": tensor.sample_compression,
        "length": len(tensor),
        "samples": infos,
    }
    if json_:
        output.print_json(doc)
        return
    rows = [
        [
            i,
            info["shape"][0],
            f"{info['shape'][2]}x{info['shape'][1]}",
            f"{info['fps']:.3f}",
            f"{info['duration'] * info['timebase']:.2f}",
            info["codec"],
            output.human_bytes(info["size"]),
            info["filename"],
        ]
        for i, info in enumerate(infos)
    ]
    title = f"{tensor.name}: {tensor.htype}, {tensor.sample_compression}, {len(tensor)} samples"
    output.print_table(
        title, ["#", "frames", "size", "fps", "seconds", "codec", "bytes", "filename"], rows
    )


def _sample_info(views: list[SampleView], json_: bool, *, single: bool) -> None:
    infos = [v.sample_info for v in views]
    if json_:
        output.print_json(infos[0] if single else infos)
        return
    for view, info in zip(views, infos, strict=True):
        output.print_table(view.where, ["key", "value"], [[k, v] for k, v in info.items()])


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


from hubcli.cli import creds_cmd, history_cmd  # noqa: E402,F401 - register their commands

HostOpt = Annotated[str, typer.Option(help="Address to bind (loopback by default).")]
PortOpt = Annotated[int, typer.Option(help="Port (0: a free one).")]
NoBrowserOpt = Annotated[bool, typer.Option("--no-browser", help="Do not open a browser.")]


@app.command()
def play(
    dataset: DatasetArg,
    selector: Annotated[str, typer.Argument(help="One sample, e.g. videos[0].")],
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 0,
    no_browser: NoBrowserOpt = False,
    creds_file: CredsOpt = None,
) -> None:
    """Serve one video for playback in the browser; prints the URL; Ctrl-C stops it.

    Example: hubcli play ./clips 'videos[0]'
    """
    ds = hubcli.load(dataset, creds=read_creds(creds_file), read_only=True)
    target = ds.select(selector)
    if not isinstance(target, SampleView) or target.rest:
        raise SelectorError(
            f"play takes one sample, not {selector!r}", hint="e.g. hubcli play DATASET 'videos[0]'"
        )
    _serve_until_interrupted(
        ds, host, port, no_browser, lambda s: s.player_url(target.tensor.name, target.index)
    )


@app.command()
def serve(
    dataset: DatasetArg,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 0,
    no_browser: NoBrowserOpt = False,
    creds_file: CredsOpt = None,
) -> None:
    """Serve a page that browses the whole dataset (ds.visualize() from the shell).

    Example: hubcli serve ./clips --port 8000
    """
    ds = hubcli.load(dataset, creds=read_creds(creds_file), read_only=True)
    _serve_until_interrupted(ds, host, port, no_browser, lambda s: s.url)


def _serve_until_interrupted(
    ds: hubcli.Dataset,
    host: str,
    port: int,
    no_browser: bool,
    page: Callable[[PlaybackServer], str],
) -> None:
    with PlaybackServer(ds, host=host, port=port) as server:
        url = page(server)
        output.print_lines([url])
        sys.stdout.flush()
        if not no_browser:
            # The browser gets a private file that redirects to ``url``: its argv is
            # public (ps), so the token must not be in it (stdout is the user's).
            webbrowser.open(server.launch_url(url))
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            output.stderr_console().print("stopped", markup=False, highlight=False)


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
    ds = hubcli.load(dataset, creds=read_creds(creds_file), read_only=True)
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
