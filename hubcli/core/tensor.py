"""Tensors: append videos, index samples."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hubcli.core.commit import Change, Plan, Written, committed, node_objects
from hubcli.core.frame_index import normalize_positions, selection
from hubcli.core.ingest import Progress, stage_link_segment, stage_segment
from hubcli.core.links import as_link, check_keys
from hubcli.core.sample import SamplesView, SampleView
from hubcli.core.sources import as_source
from hubcli.errors import ConflictError, FrameIndexError, TensorNotFoundError
from hubcli.format import keys
from hubcli.format.log import Append, Delete
from hubcli.format.manifest import LINK_VIDEO

if TYPE_CHECKING:
    from collections.abc import Iterable

    from hubcli.core.dataset import Dataset
    from hubcli.core.reader import SampleReader
    from hubcli.format.layout import Layout, SegmentEntry
    from hubcli.format.manifest import Manifest, TensorMeta
    from hubcli.storage.base import Store


@dataclass(frozen=True)
class Appended:
    """What an append added: samples, and bytes of video (stored, or linked)."""

    count: int
    nbytes: int


class Tensor:
    """A named sequence of samples in a dataset (a view; holds no data itself)."""

    def __init__(self, dataset: Dataset, name: str) -> None:
        self.dataset = dataset
        self.name = name

    @property
    def meta(self) -> TensorMeta:
        return self.dataset.tensor_meta(self.name)

    @property
    def htype(self) -> str:
        return self.meta.htype

    @property
    def sample_compression(self) -> str | None:
        return self.meta.sample_compression

    @property
    def is_link(self) -> bool:
        return self.meta.htype == LINK_VIDEO

    def __len__(self) -> int:
        return self.meta.length

    def __repr__(self) -> str:
        m = self.meta
        return (
            f"Tensor(name={m.name!r}, htype={m.htype!r}, "
            f"sample_compression={m.sample_compression!r}, length={m.length})"
        )

    def reader(self) -> SampleReader:
        return self.dataset.reader(self.name)

    # --- writing --------------------------------------------------------------------
    def append(self, sample: Any) -> Appended:
        """Append one video: a path, a URL, ``hubcli.read(...)``, or for a ``link[video]``
        tensor ``hubcli.link(url, creds_key=...)``. See :meth:`extend`."""
        return self.extend([sample])

    def extend(self, samples: Iterable[Any], progress: Progress | None = None) -> Appended:
        """Append several videos as one commit: all of them, or none if any is bad.

        Each source is fetched (URLs), indexed (demuxed) and checked, and its bytes are
        stored unchanged; nothing is visible until all are stored. ``progress`` is called
        with byte counts: downloaded (URLs), indexed, then copied.

        Raises
        ------
        SourceNotFoundError, InvalidSampleError
            A source is missing, not a video, truncated, undecodable, or not this
            tensor's container; ``exc.source_index`` is its position in ``samples``.
            The dataset is left unchanged.
        """
        self.dataset.check_writable()
        meta, store = self.meta, self.dataset.store
        samples = list(samples)
        if not samples:
            return Appended(0, 0)
        written = Written()
        try:
            if self.is_link:
                links = [as_link(s) for s in samples]
                check_keys(links, [k.name for k in self.dataset.manifest.creds_keys])
                staged = stage_link_segment(
                    store, meta, links, self.dataset.secrets_for, written.keys, progress
                )
            else:
                sources = [as_source(s) for s in samples]
                staged = stage_segment(store, meta, sources, written.keys, progress)
            entries = [s.entry for s in staged]
            self.dataset.commit(append_change(self.name, meta.dir, entries), written)
        except BaseException:
            remove_unless_committed(store, written)
            raise
        return Appended(sum(e.count for e in entries), sum(s.nbytes for s in staged))

    def pop(self, index: int = -1) -> None:
        """Remove sample ``index`` (later samples shift down, as in a list); one commit.
        Its bytes are freed by ``gc`` once no kept version needs them."""
        del self[index]

    def __delitem__(self, index: Any) -> None:
        """``del tensor[i]``, ``del tensor[a:b]``, ``del tensor[[i, j]]``: one commit."""
        self.dataset.check_writable()
        if isinstance(index, tuple):
            raise FrameIndexError(
                f"cannot delete frames of {self.name!r}: only whole samples",
                hint="delete samples, e.g. del ds.videos[3]",
            )
        positions, _ = normalize_positions(index, len(self), "sample", f"tensor {self.name!r}")
        indices = sorted({int(p) for p in positions})
        if indices:
            self.dataset.commit(delete_change(self.name, indices, self.meta.layout))

    # --- reading --------------------------------------------------------------------
    def __getitem__(self, index: Any) -> SampleView | SamplesView:
        """``t[i]``, ``t[i, frames]``, ``t[a:b]``, ``t[[i, j], frames]``; frames index as
        numpy does (ints, negative ints, slices with any step, lists of ints)."""
        first, rest = (index[0], index[1:]) if isinstance(index, tuple) else (index, ())
        if isinstance(index, tuple) and not index:
            raise FrameIndexError(f"empty index for tensor {self.name!r}")
        if first is Ellipsis or isinstance(first, slice):
            # A range, not a list: a tensor's declared length costs nothing until used.
            return SamplesView(self, selection(first, len(self)), rest)
        positions, scalar = normalize_positions(first, len(self), "sample", f"tensor {self.name!r}")
        if scalar:
            return SampleView(self, int(positions[0]), rest)
        return SamplesView(self, [int(p) for p in positions], rest)

    def __iter__(self) -> Any:
        for i in range(len(self)):
            yield SampleView(self, i, ())


def append_change(name: str, directory: str, entries: list[SegmentEntry]) -> Change:
    """Append the staged segments ``entries`` at the end of tensor ``name``, one op each
    (planned again on the winner's state if another writer commits first: the sealing
    may differ)."""

    def plan(state: Manifest) -> Plan:
        meta = _current(state, name)
        if meta.dir != directory:
            raise TensorNotFoundError(f"tensor {name!r} was replaced while this append ran")
        result, layout = Plan([]), meta.layout
        for entry in entries:
            layout, sealed = layout.appended(entry, meta.fanout, keys.new_object_id)
            result.ops.append(Append(name, entry, tuple(node_id for node_id, _ in sealed)))
            result.objects.extend(node_objects(meta, sealed))
        return result

    return plan


def delete_change(name: str, indices: list[int], base: Layout) -> Change:
    """Remove logical samples ``indices``, chosen on ``base``. Re-planned on a newer
    state only if that state just added samples at the end (the indices still name the
    same samples); if another writer removed or rearranged samples, it is refused."""

    def plan(state: Manifest) -> Plan:
        meta = _current(state, name)
        layout = meta.layout
        if layout.deleted != base.deleted or layout.physical < base.physical:
            raise ConflictError(
                f"tensor {name!r} changed while samples were being deleted",
                hint="load the dataset again and retry the delete",
            )
        return Plan([Delete(name, tuple(indices))])

    return plan


def _current(state: Manifest, name: str) -> TensorMeta:
    meta = state.tensor(name)
    if meta is None:
        raise TensorNotFoundError(f"tensor {name!r} no longer exists")
    return meta


def remove_unless_committed(store: Store, written: Written) -> None:
    """Remove what a failed write created, unless its commit landed after all (an error
    can arrive after the commit: Ctrl-C, a lost reply from an object store).

    Best effort: the keys are unreferenced, so leaving one behind is harmless (gc removes
    it), while removing a committed one would break the dataset. When in doubt, keep.
    """
    if committed(store, written) is not False:
        return
    for key in written.keys:
        with contextlib.suppress(Exception):
            store.delete(key)
