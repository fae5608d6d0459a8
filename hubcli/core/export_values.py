"""Label tensors (class_label, text, json, generic) written to files.

- ``.npy``: the selected samples stacked into one numeric array (class labels, generic
  samples of one shape), for ``numpy.load``;
- ``.jsonl``: one JSON value a line, in selection order (text, json, class labels, and
  generic samples as nested lists);
- ``.npz``: one array a sample, named by its index in the tensor (``"0"``, ``"1"``,
  ...), for samples whose shapes differ.

Samples are read many at a time (:class:`~hubcli.core.value_reader.ValueReader`), never
one read per sample; ``.jsonl`` and ``.npz`` are written a batch of samples at a time,
so memory holds one batch however long the tensor. Like every export, the file is
written under a temporary name beside its final one and renamed into place when
complete (:func:`hubcli.core.export.staged`): a failed export leaves nothing.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hubcli.core.export import Staging, save_npy, staged
from hubcli.core.value_view import ValuesView, ValueView
from hubcli.core.values import column_values, stacked
from hubcli.errors import ExportError
from hubcli.format.values import CLASS_LABEL, GENERIC

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from hubcli.core.tensor import Tensor

#: Label formats by extension, and what each holds (the text of the error that lists them).
LABEL_FORMATS = {
    ".npy": "numbers stacked into one array",
    ".jsonl": "one JSON value a line",
    ".npz": "one array a sample",
}
NUMERIC = (CLASS_LABEL, GENERIC)
#: Samples read and written per batch by the streamed formats.
BATCH = 1 << 16


@dataclass(frozen=True)
class Selection:
    """The samples of a label tensor that a selector names: ``positions`` in selection
    order; ``single`` for one sample (``labels[3]``), whose ``rest`` indexes inside a
    generic sample (``boxes[3, 0]``)."""

    tensor: Tensor
    positions: Sequence[int]
    single: bool = False
    rest: tuple[Any, ...] = ()

    @classmethod
    def of(cls, target: Tensor | ValueView | ValuesView) -> Selection:
        if isinstance(target, ValueView):
            return cls(target.tensor, [target.index], single=True, rest=target.rest)
        if isinstance(target, ValuesView):
            return cls(target.tensor, target.positions)
        return cls(target, range(len(target)))

    @property
    def whole(self) -> bool:
        positions = self.positions
        return isinstance(positions, range) and positions == range(len(self.tensor))

    def batches(self) -> Iterator[tuple[Sequence[int], list[Any]]]:
        """``(positions, values)`` a batch at a time, values as ``numpy(aslist=True)``
        gives them (a ``rest`` index applied)."""
        if self.single:
            yield self.positions, [ValueView(self.tensor, self.positions[0], self.rest).numpy()]
            return
        reader = self.tensor.dataset.value_reader(self.tensor.name)
        if self.whole and len(self.positions) <= BATCH:
            yield self.positions, column_values(reader.htype, reader.column(None))
            return
        for start in range(0, len(self.positions), BATCH):
            part = self.positions[start : start + BATCH]
            yield part, column_values(reader.htype, reader.column(list(part)))


@dataclass(frozen=True)
class ValuesExport:
    """What a label export wrote."""

    path: str
    format: str
    samples: int
    nbytes: int
    #: The array's shape and dtype (``.npy`` only).
    shape: tuple[int, ...] | None = None
    dtype: str | None = None


def label_format(output: str, forced: str | None, tensor: Tensor) -> str:
    """The format (``npy``, ``jsonl``, ``npz``) ``output`` asks for; ``forced`` is
    ``--format``, which only ``npy`` can be for a label tensor."""
    suffix = f".{forced}" if forced else Path(output).suffix.lower()
    if suffix not in LABEL_FORMATS:
        listed = ", ".join(f"{ext} ({what})" for ext, what in LABEL_FORMATS.items())
        raise ExportError(
            f"cannot export {tensor.htype} tensor {tensor.name!r} as {output}: "
            f"label tensors export to {', '.join(LABEL_FORMATS)}",
            hint=f"name the output with one of: {listed}",
        )
    fmt = suffix[1:]
    if fmt in ("npy", "npz") and tensor.htype not in NUMERIC:
        raise ExportError(
            f"{tensor.htype} tensor {tensor.name!r} holds no numbers for .{fmt}",
            hint=f"export it as one JSON value a line: -o {_renamed(output, '.jsonl')}",
        )
    return fmt


def _renamed(output: str, suffix: str) -> str:
    """``output`` with another extension (for a hint)."""
    path = Path(output)
    return str(path.with_suffix(suffix)) if path.name else f"values{suffix}"


def export_values(
    selection: Selection, output: str, fmt: str, progress: Callable[[int], None] | None = None
) -> ValuesExport:
    """Write ``selection`` to ``output`` in ``fmt`` (see :func:`label_format`);
    ``progress`` is called with the number of samples just written."""
    advance = progress or (lambda n: None)
    with staged() as stage:
        if fmt == "npy":
            shape, dtype = _write_npy(selection, output, stage)
            advance(len(selection.positions))
        elif fmt == "npz":
            _write_npz(selection, output, stage, advance)
            shape, dtype = None, None
        else:
            _write_jsonl(selection, output, stage, advance)
            shape, dtype = None, None
    nbytes = os.stat(output).st_size
    return ValuesExport(output, fmt, len(selection.positions), nbytes, shape, dtype)


# --- .npy --------------------------------------------------------------------------------


def _write_npy(selection: Selection, output: str, stage: Staging) -> tuple[tuple[int, ...], str]:
    tensor = selection.tensor
    if selection.single:
        array = np.asarray(ValueView(tensor, selection.positions[0], selection.rest).numpy())
    else:
        reader = tensor.dataset.value_reader(tensor.name)
        column = reader.column(None if selection.whole else list(selection.positions))
        stacked_array = stacked(tensor.htype, column)
        if stacked_array is None:
            raise ExportError(
                f"the samples of {tensor.name!r} have different shapes: one .npy array "
                "cannot hold them",
                hint=f"export one array a sample: -o {_renamed(output, '.npz')}",
            )
        array = stacked_array
    save_npy(stage, output, array)
    return tuple(array.shape), array.dtype.name


# --- .npz --------------------------------------------------------------------------------


def _write_npz(
    selection: Selection, output: str, stage: Staging, advance: Callable[[int], None]
) -> None:
    """A zip of ``<index>.npy`` members, as ``numpy.savez`` writes (stored, not
    deflated), but one member at a time: memory holds one batch, not every sample.
    A repeated index (``labels[[1, 1]]``) is written once."""
    temp = stage.create(output)
    seen: set[int] = set()
    try:
        with zipfile.ZipFile(temp, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for positions, values in selection.batches():
                for position, value in zip(positions, values, strict=True):
                    if int(position) in seen:
                        continue
                    seen.add(int(position))
                    with archive.open(f"{int(position)}.npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, np.asarray(value), allow_pickle=False)
                advance(len(positions))
    except OSError as exc:
        raise ExportError(f"cannot write {output}: {exc.strerror}") from None


# --- .jsonl ------------------------------------------------------------------------------


def _write_jsonl(
    selection: Selection, output: str, stage: Staging, advance: Callable[[int], None]
) -> None:
    temp = stage.create(output)
    name = selection.tensor.name
    try:
        with open(temp, "w", encoding="utf-8", newline="\n") as f:
            for positions, values in selection.batches():
                lines = [
                    _json_line(name, int(p), v) for p, v in zip(positions, values, strict=True)
                ]
                f.write("".join(lines))
                advance(len(positions))
    except OSError as exc:
        raise ExportError(f"cannot write {output}: {exc.strerror}") from None


def _json_line(tensor: str, index: int, value: Any) -> str:
    """One sample as a line of JSON: a class label's int (a list of ints for several),
    a generic sample as nested lists, text and json values as they are."""
    plain = value.tolist() if isinstance(value, np.ndarray | np.generic) else value
    try:
        text = json.dumps(plain, ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise ExportError(
            f"{tensor}[{index}] holds NaN or infinity, which JSON cannot hold",
            hint="export the numbers to .npy or .npz",
        ) from None
    return text + "\n"
