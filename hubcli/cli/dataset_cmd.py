"""Creating datasets and tensors, and describing them (no decoding)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from hubcli.cli import output
from hubcli.cli.app import app
from hubcli.cli.options import (
    Compression,
    CredsOpt,
    DatasetArg,
    Htype,
    JsonOpt,
    QuietOpt,
    SelectorArg,
    emit,
    located,
    open_dataset,
    read_creds,
    select_views,
)
from hubcli.errors import SelectorError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import hubcli
    from hubcli.core.sample import SampleView
    from hubcli.core.tensor import Tensor
    from hubcli.core.value_view import ValueView


@app.command()
def create(
    dataset: DatasetArg,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing hubcli dataset.")] = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
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
            help="Container every sample must be (default: mp4; link tensors: any container).",
            show_default=False,
        ),
    ] = None,
    class_names: Annotated[
        str | None,
        typer.Option(
            "--class-names",
            help="class_label: the names of classes 0, 1, ..., comma-separated (cat,dog).",
            show_default=False,
        ),
    ] = None,
    fixed_class_names: Annotated[
        bool,
        typer.Option("--fixed-class-names", help="class_label: refuse names not in --class-names."),
    ] = False,
    dtype: Annotated[
        str | None,
        typer.Option(
            help="generic: element type, e.g. float32 (else the first sample's).",
            show_default=False,
        ),
    ] = None,
    shape: Annotated[
        str | None,
        typer.Option(
            "--shape",
            help="generic: every sample's shape, comma-separated (2,4; '' for a scalar).",
            show_default=False,
        ),
    ] = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    creds_file: CredsOpt = None,
) -> None:
    """Create an empty tensor: videos, or labels and metadata (class_label, text, json,
    generic).

    Example: hubcli create-tensor ./clips videos --sample-compression mkv
    Example: hubcli create-tensor ./clips labels --htype class_label --class-names cat,dog
    """
    names = _class_names(class_names)
    fixed_shape = _shape_option(shape)
    ds = open_dataset(dataset, creds_file, read_only=False)
    compression = sample_compression.value if sample_compression else None
    tensor = ds.create_tensor(
        name,
        htype=htype.value,
        sample_compression=compression,
        class_names=names,
        fixed_class_names=fixed_class_names,
        dtype=dtype,
        shape=fixed_shape,
    )
    result: dict[str, Any] = {
        "tensor": name,
        "htype": tensor.htype,
        "sample_compression": tensor.sample_compression,
    }
    if tensor.holds_values:
        result["info"] = dict(tensor.info)
    emit(
        json_,
        {**result, "version": ds.version},
        [f"created tensor {name!r} ({', '.join(_described(tensor))})"],
    )


def _class_names(text: str | None) -> list[str] | None:
    """``cat,dog`` -> ``["cat", "dog"]`` (spaces around a name dropped)."""
    if text is None:
        return None
    return [n.strip() for n in text.split(",")]


def _shape_option(text: str | None) -> list[int] | None:
    """``2,4`` -> ``[2, 4]``; ``''`` or ``()`` -> ``[]`` (a scalar per sample)."""
    if text is None:
        return None
    stripped = text.strip().strip("()[]").strip()
    if not stripped:
        return []
    try:
        return [int(d) for d in stripped.split(",") if d.strip()]
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a shape: give sizes separated by commas, e.g. 2,4",
            param_hint="'--shape'",
        ) from None


@app.command()
def info(
    dataset: DatasetArg,
    selector: Annotated[
        str | None, typer.Argument(help="A tensor or sample, e.g. videos[0].")
    ] = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
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
        if target.holds_values:
            _value_tensor_info(target, json_)
        else:
            _tensor_info(target, json_)
    elif target.tensor.holds_values:
        raise SelectorError(
            f"info describes label tensors, not their samples: {selector!r}",
            hint=f"print the values with: hubcli show DATASET {selector!r}",
        )
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
    dataset: DatasetArg,
    selector: SelectorArg,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    creds_file: CredsOpt = None,
) -> None:
    """Print the shape of what the selector names, from the index (no decoding).

    One line per sample, numbers separated by spaces.
    Example: hubcli shape ./clips 'videos[0, ::2]'  ->  200 360 640 3
    """
    ds = open_dataset(dataset, creds_file)
    values = _value_views(ds, selector)
    views: Sequence[SampleView | ValueView] = (
        select_views(ds, selector) if values is None else values
    )
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
    dataset: DatasetArg,
    selector: SelectorArg,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    creds_file: CredsOpt = None,
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


def _value_views(ds: hubcli.Dataset, selector: str) -> list[ValueView] | None:
    """The samples a selector names in a label tensor (None: a video tensor)."""
    from hubcli.core.tensor import Tensor
    from hubcli.core.value_view import ValuesView, ValueView

    target = ds.select(selector)
    if isinstance(target, Tensor):
        return list(target) if target.holds_values else None
    if isinstance(target, ValueView):
        return [target]
    return list(target) if isinstance(target, ValuesView) else None


def _dataset_info(ds: hubcli.Dataset, json_: bool) -> None:
    tensors = [_tensor_entry(t) for t in ds.tensors.values()]
    doc: dict[str, Any] = {
        "path": ds.path,
        "version": ds.version,
        "format_version": ds.manifest.format_version,
        "dataset_id": ds.manifest.dataset_id,
        "tensors": tensors,
    }
    note: str | None = ds.info().get("note")  # tensors of different lengths
    if note:
        doc["note"] = note
    if json_:
        output.print_json(doc)
        return
    title = f"{ds.path} (version {ds.version}, format {doc['format_version']})"
    output.print_table(
        title,
        ["tensor", "htype", "compression", "samples", "details"],
        [[t.name, t.htype, _container(t), len(t), _details(t)] for t in ds.tensors.values()],
    )
    if note:
        output.print_lines([f"note: {note}"])


def _tensor_entry(tensor: Tensor) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": tensor.name,
        "htype": tensor.htype,
        "sample_compression": tensor.sample_compression,
        "length": len(tensor),
    }
    if tensor.holds_values:
        entry["info"] = dict(tensor.info)
    return entry


def _details(tensor: Tensor) -> str:
    """What a tensor's samples are, in a few words: a video tensor's container, a
    label tensor's class names, dtype or shape."""
    if not tensor.holds_values:
        return _container(tensor)
    info = tensor.info
    if tensor.htype == "class_label":
        fixed = ", fixed" if info["fixed_class_names"] else ""
        return f"{output.plural(len(info['class_names']), 'class name')}{fixed}"
    if tensor.htype == "generic":
        dtype = info["dtype"] or "dtype of the first sample"
        shape = "any shape" if info["shape"] is None else f"shape {tuple(info['shape'])}"
        return f"{dtype}, {shape}"
    return "-"


def _described(tensor: Tensor) -> list[str]:
    """A tensor's htype and, where there is more to say, its details."""
    details = _details(tensor)
    return [tensor.htype] if details == "-" else [tensor.htype, details]


def _value_tensor_info(tensor: Tensor, json_: bool) -> None:
    """A label tensor: htype, length and info (class names, dtype, shape); no samples
    (hubcli show prints those)."""
    info = dict(tensor.info)
    if json_:
        doc = {
            "name": tensor.name,
            "htype": tensor.htype,
            "sample_compression": None,
            "length": len(tensor),
            "info": info,
        }
        output.print_json(doc)
        return
    title = f"{tensor.name}: {tensor.htype}, {output.plural(len(tensor), 'sample')}"
    rows: list[list[Any]] = [["dtype", info["dtype"] or "-"]]
    if tensor.htype == "generic":
        rows.append(["shape", "any" if info["shape"] is None else tuple(info["shape"])])
    if tensor.htype == "class_label":
        rows.append(["fixed_class_names", info["fixed_class_names"]])
    output.print_table(title, ["key", "value"], rows)
    if tensor.htype == "class_label":
        names = info["class_names"]
        output.print_table("class names", ["class", "name"], [list(p) for p in enumerate(names)])


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
    title = (
        f"{tensor.name}: {tensor.htype}, {_container(tensor)}, "
        f"{output.plural(len(tensor), 'sample')}"
    )
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


def _container(tensor: Tensor) -> str:
    """A tensor's sample compression as shown: a link tensor without one takes any
    container; other tensors without one hold no videos."""
    if tensor.sample_compression:
        return tensor.sample_compression
    return "any container" if tensor.is_link else "-"
