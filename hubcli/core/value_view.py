"""Views of a label tensor's samples (class_label, text, json, generic): what
``ds.labels[3]``, ``ds.labels[10:20]`` and ``ds.labels[[3, 1, 4]]`` give.

Reads of many samples go through :class:`~hubcli.core.value_reader.ValueReader` in
one call (whole segments or ranged slices of them), never a read per sample.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hubcli.core.values import column_values, sample_data, stacked
from hubcli.errors import FrameIndexError, InvalidSampleError
from hubcli.format.value_info import class_name
from hubcli.format.values import CLASS_LABEL, JSON, TEXT

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    # numpy is imported by the functions that use it: `hubcli.load` and `hubcli info`
    # start without it (issue #15, tests/cli/test_startup.py).
    import numpy as np

    from hubcli.core.tensor import Tensor
    from hubcli.core.value_reader import ValueReader
    from hubcli.format.values import Column


class ValueView:
    """One sample of a label tensor."""

    def __init__(self, tensor: Tensor, index: int, rest: tuple[Any, ...] = ()) -> None:
        self.tensor = tensor
        self.index = index
        self.rest = rest  # a generic sample's own index: ds.boxes[3, 0, :2]

    def _reader(self) -> ValueReader:
        return self.tensor.dataset.value_reader(self.tensor.name)

    def numpy(self, aslist: bool = False) -> Any:
        """The sample: an int64 array for a class label (shape ``()`` for one label,
        ``(k,)`` for a list), the str of a text sample, the value of a json sample, the
        array of a generic sample. ``aslist`` is accepted for Hub's code (one sample
        has one shape)."""
        value = self._reader().value(self.index)
        return value[self.rest] if self.rest else value

    def data(self) -> Any:
        """As :meth:`numpy`, but a class label gives ``{"value": ..., "text": [names]}``."""
        reader = self._reader()
        return sample_data(reader.htype, self.tensor.info_value, reader.raw(self.index))

    def text(self) -> list[str]:
        """A class label's names (Hub's ``.data()["text"]``)."""
        data = self.data()
        if not isinstance(data, dict):
            raise InvalidSampleError(f"tensor {self.tensor.name!r} holds no class labels")
        return list(data["text"])

    @property
    def shape(self) -> tuple[int, ...]:
        """The stored array's shape (a text or json sample: its UTF-8 length)."""
        raw = self._reader().raw(self.index)
        return tuple(raw[self.rest].shape) if self.rest else tuple(raw.shape)

    def __repr__(self) -> str:
        return f"ValueView({self.tensor.name!r}, {self.index})"


class ValuesView:
    """Several samples of a label tensor, in the order asked."""

    def __init__(self, tensor: Tensor, positions: Sequence[int]) -> None:
        self.tensor = tensor
        self.positions = positions

    def __len__(self) -> int:
        return len(self.positions)

    def __iter__(self) -> Iterator[ValueView]:
        return (ValueView(self.tensor, int(p)) for p in self.positions)

    def __getitem__(self, index: int) -> ValueView:
        return ValueView(self.tensor, int(self.positions[index]))

    def _column(self) -> Column:
        reader = self.tensor.dataset.value_reader(self.tensor.name)
        whole = isinstance(self.positions, range) and self.positions == range(len(self.tensor))
        return reader.column(None if whole else list(self.positions))

    def numpy(self, aslist: bool = False) -> Any:
        """The samples: stacked into one array (shape ``(n, *sample_shape)``) when they
        share a shape; with ``aslist=True`` a list of one value per sample (needed when
        shapes differ). A text tensor gives an array of str (a list with ``aslist``), a
        json tensor a list."""
        htype, column = self.tensor.htype, self._column()
        if aslist or htype == JSON:
            return column_values(htype, column)
        if htype == TEXT:
            return _text_array(column_values(htype, column))
        array = stacked(htype, column)
        if array is None:
            raise FrameIndexError(
                f"the samples of {self.tensor.name!r} have different shapes",
                hint="use .numpy(aslist=True)",
            )
        return array

    def data(self) -> Any:
        """A class label tensor: ``{"value": [...], "text": [[names], ...]}``; others as
        ``numpy(aslist=True)``."""
        import numpy as np

        column = self._column()
        values = column_values(self.tensor.htype, column)
        if self.tensor.htype != CLASS_LABEL:
            return values
        names = self.tensor.info_value.class_names
        texts = [[class_name(names, k) for k in np.atleast_1d(v).tolist()] for v in values]
        return {"value": values, "text": texts}

    @property
    def shape(self) -> tuple[int | None, ...]:
        """``(n, *sample_shape)``, None where samples differ."""
        column = self._column()
        if column.shape is not None:
            return (column.count, *column.shape)
        shapes = column.sample_shapes()
        ndims = {len(s) for s in shapes}
        if len(ndims) != 1:
            return (column.count, None)
        return (
            column.count,
            *(d if len({s[k] for s in shapes}) == 1 else None for k, d in enumerate(shapes[0])),
        )

    def __repr__(self) -> str:
        return f"ValuesView({self.tensor.name!r}, {len(self)} samples)"


def _text_array(texts: list[str]) -> np.ndarray:
    """Texts as an array of str, as Hub gives them; numpy's str arrays drop trailing NUL
    characters, so texts that end in one come back in an object array instead."""
    import numpy as np

    if any(t.endswith("\0") for t in texts):
        array = np.empty(len(texts), dtype=object)
        array[:] = texts
        return array
    return np.array(texts, dtype=str)
