"""Creating datasets and tensors, and describing them (no decoding)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from hubcli.cli import output
from hubcli.cli.app import app
from hubcli.cli.options import (
    Compression,
    CredsOpt,
    DatasetArg,
    Htype,
    JsonOpt,
    SelectorArg,
    emit,
    located,
    open_dataset,
    read_creds,
    select_views,
)
from hubcli.errors import SelectorError

if TYPE_CHECKING:
    import hubcli
    from hubcli.core.sample import SampleView
    from hubcli.core.tensor import Tensor


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
    import hubcli

    ds = hubcli.empty(dataset, overwrite=overwrite, creds=read_creds(creds_file))
    result = {"path": ds.path, "version": ds.version, "format_version": ds.manifest.format_version}
    emit(json_, result, [f"created an empty dataset at {ds.path}"])


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
    ds = open_dataset(dataset, creds_file, read_only=False)
    compression = sample_compression.value if sample_compression else None
    tensor = ds.create_tensor(name, htype=htype.value, sample_compression=compression)
    result = {
        "tensor": name,
        "htype": tensor.htype,
        "sample_compression": tensor.sample_compression,
    }
    emit(
        json_,
        {**result, "version": ds.version},
        [f"created tensor {name!r} ({tensor.htype}, {tensor.sample_compression})"],
    )


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
    ds = open_dataset(dataset, creds_file)
    if selector is None:
        _dataset_info(ds, json_)
        return
    from hubcli.core.sample import SampleView
    from hubcli.core.tensor import Tensor

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
        _sample_info(located(target), json_, single=False)


@app.command()
def shape(
    dataset: DatasetArg, selector: SelectorArg, json_: JsonOpt = False, creds_file: CredsOpt = None
) -> None:
    """Print the shape of what the selector names, from the index (no decoding).

    One line per sample, numbers separated by spaces.
    Example: hubcli shape ./clips 'videos[0, ::2]'  ->  200 360 640 3
    """
    views = select_views(open_dataset(dataset, creds_file), selector)
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
    views = select_views(open_dataset(dataset, creds_file), selector)
    import numpy as np

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
