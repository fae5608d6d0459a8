"""Tensors: append videos, index samples."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hubcli.core.commit import read_latest_manifest
from hubcli.core.frame_index import normalize_positions, selection
from hubcli.core.ingest import Progress, StagedSegment, stage_link_segment, stage_segment
from hubcli.core.links import as_link, check_keys
from hubcli.core.sample import SamplesView, SampleView
from hubcli.core.sources import as_source
from hubcli.errors import FrameIndexError, TensorNotFoundError
from hubcli.format.manifest import LINK_VIDEO

if TYPE_CHECKING:
    from collections.abc import Iterable

    from hubcli.core.dataset import Dataset
    from hubcli.core.reader import SampleReader
    from hubcli.format.manifest import Manifest, TensorMeta


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
        written: list[str] = []
        try:
            if self.is_link:
                links = [as_link(s) for s in samples]
                check_keys(links, [k.name for k in self.dataset.manifest.creds_keys])
                staged = stage_link_segment(
                    store,
                    self.name,
                    meta.sample_compression,
                    links,
                    self.dataset.secrets_for,
                    written,
                    progress,
                )
            else:
                sources = [as_source(s) for s in samples]
                staged = stage_segment(
                    store, self.name, meta.sample_compression, sources, written, progress
                )
            self.dataset.commit(lambda manifest: self._with_segment(manifest, staged))
        except BaseException:
            _remove_unless_committed(self.dataset, written)
            raise
        return Appended(staged.count, staged.nbytes)

    def _with_segment(self, manifest: Manifest, staged: StagedSegment) -> Manifest:
        """``manifest`` with the staged samples after this tensor's newest samples (called
        again on the winner's manifest if another writer commits first)."""
        current = manifest.tensor(self.name)
        if current is None:
            raise TensorNotFoundError(
                f"tensor {self.name!r} no longer exists in {self.dataset.path}"
            )
        ref = (staged.key, staged.count, staged.size, staged.header_size, staged.header_sha256)
        return manifest.with_tensor(current.with_segment(*ref))

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


def _remove_unless_committed(dataset: Dataset, written: list[str]) -> None:
    """Remove what a failed append wrote, unless its manifest was in fact committed (an
    error can arrive after the commit: Ctrl-C, a lost reply from an object store).

    Best effort: the keys are unreferenced, so leaving one behind is harmless, while
    removing a committed one would break the dataset. When in doubt, keep them.
    """
    segments = [k for k in written if k.endswith(".seg")]
    try:
        latest = read_latest_manifest(dataset.store)
    except Exception:
        return
    referenced = {ref.key for t in latest.tensors for ref in t.segments}
    if referenced.intersection(segments):
        return
    for key in written:
        with contextlib.suppress(Exception):
            dataset.store.delete(key)
