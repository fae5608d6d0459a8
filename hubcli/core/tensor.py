"""Tensors: append videos, index samples."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from hubcli.core.commit import Change, Plan, Written, committed, node_objects
from hubcli.core.frame_index import normalize_positions, scalar_position, selection
from hubcli.core.ingest import (
    StagedSamples,
    stage_link_samples,
    stage_link_segment,
    stage_samples,
    stage_segment,
)
from hubcli.core.sample import SamplesView, SampleView
from hubcli.core.sources import VideoSource, as_link, as_source, check_keys, read
from hubcli.core.value_ingest import ValueAppend, value_append_change
from hubcli.core.value_view import ValuesView, ValueView
from hubcli.errors import (
    ConflictError,
    CredentialsError,
    FrameIndexError,
    InvalidSampleError,
    TensorNotFoundError,
    UnsupportedHtypeError,
)
from hubcli.format import keys
from hubcli.format.log import Append, Delete
from hubcli.format.manifest import LINK_VIDEO

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from hubcli.core.lookup import SampleReader
    from hubcli.core.sources import Progress
    from hubcli.core.value_reader import ValueReader
    from hubcli.format.layout import Layout, SegmentEntry
    from hubcli.format.manifest import Manifest, TensorMeta
    from hubcli.format.values import ValueInfo
    from hubcli.storage.base import Store
    from hubcli.storage.credentials import Credentials


class TensorHost(Protocol):
    """What a tensor asks of its dataset (``Dataset`` is the one implementation): its
    state and store, the readers it keeps, and commits."""

    @property
    def store(self) -> Store: ...

    @property
    def manifest(self) -> Manifest: ...

    def tensor_meta(self, name: str) -> TensorMeta: ...

    def reader(self, name: str) -> SampleReader: ...

    def value_reader(self, name: str) -> ValueReader: ...

    def check_writable(self) -> None: ...

    def credentials_for(self, name: str | None) -> Credentials: ...

    def _commit(self, change: Change, written: Written | None = None) -> None: ...

    def merge_small_values(self, names: Sequence[str]) -> None: ...


@dataclass(frozen=True)
class Appended:
    """What an append added: samples, and bytes of video (stored, or linked)."""

    count: int
    nbytes: int


class Tensor:
    """A named sequence of samples in a dataset (a view; holds no data itself)."""

    def __init__(self, dataset: TensorHost, name: str) -> None:
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

    @property
    def holds_values(self) -> bool:
        """A label tensor (class_label, text, json, generic), not videos."""
        return self.meta.holds_values

    @property
    def info(self) -> TensorInfo:
        """A label tensor's metadata, as in Hub: ``info["class_names"]`` (also
        ``info.class_names``); a video tensor's is empty."""
        meta = self.meta
        return TensorInfo({} if meta.info is None else meta.info.to_dict())

    @property
    def info_value(self) -> ValueInfo:
        info = self.meta.info
        if info is None:
            raise UnsupportedHtypeError(f"tensor {self.name!r} holds videos, not values")
        return info

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
    def append(self, sample: Any, creds_key: str | None = None) -> Appended:
        """Append one video: a path, a URL, ``hubcli.read(...)``, or for a ``link[video]``
        tensor a URL or ``hubcli.link(url, creds_key=...)``. ``creds_key`` (Hub's
        ``ds.links.append(url, creds_key="MY_KEY")``): the key a link reads with, or
        whose secrets read a URL appended to a video tensor. See :meth:`extend`."""
        return self.extend([sample], creds_key=creds_key)

    def extend(
        self,
        samples: Iterable[Any],
        progress: Progress | None = None,
        creds_key: str | None = None,
        jobs: int = 1,
    ) -> Appended:
        """Append several videos as one commit: all of them, or none if any is bad.

        Each source is fetched (URLs), indexed (demuxed) and checked, and its bytes are
        stored unchanged; nothing is visible until all are stored. ``progress`` is called
        with byte counts: downloaded (URLs), indexed, then copied. ``creds_key``: as in
        :meth:`append`, for every sample.

        ``jobs``: the number of processes that index and store the videos (1: this
        one). With more, the videos are still committed once, in the order given;
        workers open the dataset by its URL and read credentials from the environment
        or creds keys, never from this process (hubcli/core/parallel.py), and
        ``progress`` hears of each file once it is stored. A label tensor ignores it.

        Raises
        ------
        SourceNotFoundError, InvalidSampleError
            A source is missing, not a video, truncated, undecodable, or not this
            tensor's container; ``exc.source_index`` is its position in ``samples``.
            The dataset is left unchanged.
        """
        self.dataset.check_writable()
        samples = list(samples)
        if type(jobs) is not int or jobs != 1:  # True is 1 too, but no count
            from hubcli.core import parallel

            if parallel.check_jobs(jobs) > 1 and not self.holds_values:
                return parallel.extend(
                    self, samples, jobs=jobs, creds_key=creds_key, progress=progress
                )
        if not samples:
            return Appended(0, 0)
        if self.holds_values:
            if creds_key is not None:
                raise InvalidSampleError(f"tensor {self.name!r} holds values: no creds_key")
            values = ValueAppend(self.name, self.meta.dir, samples)
            values.plan(self.dataset.manifest)  # a bad value fails here, before a commit
            self.dataset._commit(value_append_change([values]))
            self.dataset.merge_small_values([self.name])
            return Appended(len(samples), values.nbytes)
        written = Written()
        try:
            change, appended = self.stage(samples, written, progress, creds_key)
            self.dataset._commit(change, written)
        except BaseException:
            remove_unless_committed(self.dataset.store, written)
            raise
        return appended

    def stage(
        self,
        samples: list[Any],
        written: Written,
        progress: Progress | None = None,
        creds_key: str | None = None,
    ) -> tuple[Change, Appended]:
        """Store the chunks and segments of videos ``samples`` (keys in ``written``) and
        give the change that appends them (a row append commits it with others)."""
        meta, store = self.meta, self.dataset.store
        if self.is_link:
            links = [as_link(s, creds_key) for s in samples]
            check_keys(links, [k.name for k in self.dataset.manifest.creds_keys])
            staged = stage_link_segment(
                store, meta, links, self.dataset.credentials_for, written.keys, progress
            )
        else:
            sources = [self._source(s, creds_key) for s in samples]
            staged = stage_segment(store, meta, sources, written.keys, progress)
        entries = [s.entry for s in staged]
        appended = Appended(sum(e.count for e in entries), sum(s.nbytes for s in staged))
        return append_change(self.name, meta.dir, entries), appended

    def stage_batch(
        self,
        samples: Sequence[Any],
        *,
        first: int = 0,
        creds_key: str | None = None,
        progress: Progress | None = None,
        on_file: Callable[[int, int], None] | None = None,
    ) -> StagedSamples:
        """Index and store videos ``samples`` (positions ``first``, ``first + 1``... of
        an append) in chunks of their own, naming them in no segment yet: one worker's
        share of a parallel append (``jobs=N``; a Ray write task), run in any process
        that opened the dataset. The result is picklable and holds no secret; the
        caller joins such batches into one commit (``core/parallel.py``). On failure
        the chunks written are removed and the error carries ``source_index``.
        ``on_file(position, size)`` is called as each video is stored."""
        meta = self.meta
        if self.is_link:
            links = [as_link(s, creds_key) for s in samples]
            try:
                check_keys(links, [k.name for k in self.dataset.manifest.creds_keys])
            except CredentialsError as exc:
                exc.source_index = first + (exc.source_index or 0)
                raise
            return stage_link_samples(
                meta, links, self.dataset.credentials_for, first=first, progress=progress,
                on_file=on_file,
            )  # fmt: skip
        sources = [self._source(s, creds_key) for s in samples]
        return stage_samples(
            self.dataset.store, meta, sources, first=first, progress=progress, on_file=on_file
        )

    def _source(self, sample: Any, creds_key: str | None) -> VideoSource:
        """A sample for a video tensor; with ``creds_key``, a URL read with its secrets."""
        if creds_key is None:
            return as_source(sample)
        if not isinstance(sample, (str, os.PathLike)):
            raise InvalidSampleError(
                f"creds_key goes with a path or URL, not with {type(sample).__name__}",
                hint="pass creds= to hubcli.read instead",
            )
        return read(sample, creds=self.dataset.credentials_for(creds_key))

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
            self.dataset._commit(delete_change(self.name, indices, self.meta.layout))

    # --- reading --------------------------------------------------------------------
    def __getitem__(self, index: Any) -> Any:
        """``t[i]``, ``t[i, frames]``, ``t[a:b]``, ``t[[i, j], frames]``; frames index as
        numpy does (ints, negative ints, slices with any step, lists of ints). A label
        tensor gives :class:`ValueView` / :class:`ValuesView` (``t[i, ...]`` indexes a
        generic sample's array)."""
        first, rest = (index[0], index[1:]) if isinstance(index, tuple) else (index, ())
        if isinstance(index, tuple) and not index:
            raise FrameIndexError(f"empty index for tensor {self.name!r}")
        values = self.holds_values
        where = f"tensor {self.name!r}"
        one = scalar_position(first, len(self), "sample", where)
        if one is not None:  # the common case, decided without numpy
            return ValueView(self, one, rest) if values else SampleView(self, one, rest)
        import numpy as np

        if values and rest and not (isinstance(first, (int, np.integer))):
            raise FrameIndexError(
                f"tensor {self.name!r}: index one sample before indexing inside it",
                hint=f"e.g. {self.name}[3, 0:2]",
            )
        if first is Ellipsis or isinstance(first, slice):
            # A range, not a list: a tensor's declared length costs nothing until used.
            positions = selection(first, len(self))
            return ValuesView(self, positions) if values else SamplesView(self, positions, rest)
        found, scalar = normalize_positions(first, len(self), "sample", where)
        if scalar:
            one = int(found[0])
            return ValueView(self, one, rest) if values else SampleView(self, one, rest)
        many = [int(p) for p in found]
        return ValuesView(self, many) if values else SamplesView(self, many, rest)

    def __iter__(self) -> Any:
        view = ValueView if self.holds_values else SampleView
        for i in range(len(self)):
            yield view(self, i, ())

    @property
    def shape(self) -> tuple[int | None, ...]:
        """``(samples, frames, height, width, 3)``, None where samples differ (from the
        index, no decoding); a label tensor's ``(samples, *sample_shape)``."""
        shape: tuple[int | None, ...] = self[:].shape
        return shape

    def numpy(self, aslist: bool = False) -> Any:
        """Every sample: one array, or with ``aslist=True`` a list of one per sample
        (samples of different shapes need it). A video tensor decodes every frame: mind
        the memory; a label tensor is read whole in a few requests."""
        return self[:].numpy(aslist=aslist)

    def data(self) -> Any:
        """A label tensor's samples as :meth:`ValuesView.data` gives them."""
        if not self.holds_values:
            raise UnsupportedHtypeError(
                f"tensor {self.name!r} holds videos", hint="read frames with .numpy()"
            )
        return ValuesView(self, range(len(self))).data()


class TensorInfo(dict[str, Any]):
    """A tensor's info: a dict whose keys also read as attributes (Hub's
    ``ds.labels.info.class_names``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


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
