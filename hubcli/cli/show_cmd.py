"""``hubcli show``: the values of a label tensor (class_label, text, json, generic)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from hubcli.cli import output
from hubcli.cli.app import app
from hubcli.cli.options import CredsOpt, DatasetArg, JsonOpt, QuietOpt, SelectorArg, open_dataset
from hubcli.errors import SelectorError
from hubcli.format.value_info import class_name

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hubcli.core.export_values import Selection


@app.command()
def show(
    dataset: DatasetArg,
    selector: SelectorArg,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    creds_file: CredsOpt = None,
) -> None:
    """Print the values of a label tensor, one 'INDEX<TAB>VALUE' a line: class labels
    with their names ('2 (bird)', '[0, 1] (cat, dog)'), text with line breaks escaped
    (\\n), json compact, generic as nested lists.

    Example: hubcli show ./clips 'labels[0:10]'
    """
    ds = open_dataset(dataset, creds_file)
    from hubcli.core.export_values import Selection
    from hubcli.core.tensor import Tensor

    target = ds.select(selector)
    tensor = target if isinstance(target, Tensor) else target.tensor
    if not tensor.holds_values:
        raise SelectorError(
            f"show prints label values, and tensor {tensor.name!r} holds videos: {selector!r}",
            hint="see a video's metadata with hubcli info, its frames with hubcli export",
        )
    selection = Selection.of(target)
    names: Sequence[str] = tensor.info["class_names"]
    if json_:
        output.print_json(
            {"tensor": tensor.name, "htype": tensor.htype, "samples": _samples(selection, names)}
        )
        return
    output.print_rows(
        [
            [int(p), value_text(tensor.htype, v, names)]
            for positions, values in selection.batches()
            for p, v in zip(positions, values, strict=True)
        ]
    )


def _samples(selection: Selection, names: Sequence[str]) -> list[dict[str, Any]]:
    htype = selection.tensor.htype
    samples = []
    for positions, values in selection.batches():
        for position, value in zip(positions, values, strict=True):
            plain = _plain(value)
            sample: dict[str, Any] = {"index": int(position), "value": plain}
            if htype == "class_label":
                sample["text"] = [class_name(names, k) for k in _labels(plain)]
            samples.append(sample)
    return samples


def value_text(htype: str, value: Any, names: Sequence[str] = ()) -> str:
    """A sample as one line of text: ``2 (bird)`` and ``[0, 1] (cat, dog)`` for class
    labels, text with its line breaks and tabs written ``\\n``, ``\\r``, ``\\t`` (other
    control characters are escaped when printed), json compact, generic nested lists."""
    if htype == "text":
        return str(value).replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    if htype == "json":
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    plain = _plain(value)
    if htype == "class_label":
        shown = ", ".join(class_name(names, k) for k in _labels(plain))
        return f"{json.dumps(plain)} ({shown})"
    return json.dumps(plain)


def _plain(value: Any) -> Any:
    """A numpy array or scalar as Python lists and numbers; other values as they are."""
    tolist = getattr(value, "tolist", None)
    return tolist() if callable(tolist) else value


def _labels(plain: Any) -> list[int]:
    return plain if isinstance(plain, list) else [plain]
