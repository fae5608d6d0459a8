"""A Ray Data datasink appending rows to a hubcli dataset in ONE commit.

Each write task opens the dataset itself, checks its rows' label values, then indexes
its videos and writes their chunks and a segment, committing nothing: it hands back
what it staged (segment entries, values, the keys it wrote; small, picklable, no
secret). ``on_write_complete`` on the driver commits everything at once, all or
nothing, as ``ds.extend`` does. A task that fails removes what it wrote; a task killed
mid-way leaves objects no version names, and its retry writes its own: nothing is
committed twice. Such leftovers are what ``gc`` removes once they are older than its
safety window (format_spec/commit.md).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import ray.data
from ray.data.block import BlockAccessor

from hubcli.core.commit import Written
from hubcli.core.ingest import SegmentWriter
from hubcli.core.rows import commit_staged
from hubcli.core.tensor import remove_unless_committed
from hubcli.core.value_ingest import ValueAppend
from hubcli.errors import InvalidSampleError, TensorNotFoundError
from hubcli.ray.columns import check_location, open_dataset
from hubcli.sampling import label_columns, video_tensor

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable, Mapping, Sequence

    from hubcli.core.dataset import Dataset
    from hubcli.format.layout import SegmentEntry

log = logging.getLogger("hubcli.ray")


@dataclass
class Staged:
    """What one write task stored: the segments of its videos, its rows' label values
    (committed by the driver, converted against the newest state as ``extend`` does),
    every key it wrote, and when it started (wall clock: a commit long after staging
    checks that gc has not removed the objects meanwhile)."""

    directory: str
    entries: list[SegmentEntry] = field(default_factory=list)
    values: dict[str, list[Any]] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)
    rows: int = 0
    nbytes: int = 0
    started: float = field(default_factory=time.time)


class Datasink(ray.data.Datasink["Staged"]):
    """Append rows to ``tensor`` (and the label tensors ``columns``) of the dataset at
    ``url``, as one commit: ``ds.write_datasink(hubcli.ray.Datasink(url))``.

    A row's ``tensor`` column holds a path or URL of a video (a link tensor: the URL to
    link), each label column its value (a class name or number, text...). ``creds_key``
    names the dataset's creds key that source URLs are read with (a link tensor: that
    links read with), resolved by name on each worker: ``"ENV"``, or a managed key
    populated on every node. ``creds`` are the dataset's own credentials for the
    driver; workers use their environment's and are never sent a secret.
    """

    def __init__(
        self,
        url: str | os.PathLike[str],
        tensor: str = "videos",
        columns: Sequence[str] = ("labels",),
        *,
        creds: Mapping[str, Any] | None = None,
        creds_key: str | None = None,
    ) -> None:
        self._creds = creds  # the driver's only: see __getstate__
        ds = open_dataset(check_location(url), None, creds)
        ds.check_writable()
        videos = video_tensor(ds, tensor)
        self.url, self.tensor, self.creds_key = ds.path, tensor, creds_key
        self.columns = label_columns(ds, videos, columns, (tensor,), "rows")
        self.directories = {n: ds[n].meta.dir for n in (tensor, *self.columns)}

    def __getstate__(self) -> dict[str, Any]:
        """The URL and names; never the driver's secrets."""
        return {**self.__dict__, "_creds": None}

    # --- on each worker -----------------------------------------------------------
    def write(self, blocks: Iterable[Any], ctx: Any) -> Staged:
        sources, values = self._rows(blocks)
        ds = open_dataset(self.url, None)
        staged = Staged(self._directory(ds, self.tensor))
        if not sources:
            return staged
        for name, column in values.items():  # a bad value fails before any video is stored
            ValueAppend(name, self._directory(ds, name), column).plan(ds.manifest)
        try:
            self._stage(ds, sources, staged)
        except BaseException:
            remove_unless_committed(ds.store, Written(keys=staged.keys))
            raise
        staged.values, staged.rows = values, len(sources)
        return staged

    def _rows(self, blocks: Iterable[Any]) -> tuple[list[Any], dict[str, list[Any]]]:
        sources: list[Any] = []
        values: dict[str, list[Any]] = {name: [] for name in self.columns}
        for block in blocks:
            batch = BlockAccessor.for_block(block).to_batch_format("numpy")
            for name in (self.tensor, *self.columns):
                if name not in batch:
                    raise InvalidSampleError(
                        f"the rows written have no column {name!r} (columns: "
                        f"{', '.join(batch) or 'none'})",
                        hint=f"give every row {self.tensor!r} (a path or URL) and each "
                        "label column of the sink",
                    )
            sources += [_plain(v) for v in batch[self.tensor]]
            for name in self.columns:
                values[name] += [_plain(v) for v in batch[name]]
        return sources, values

    def _directory(self, ds: Dataset, name: str) -> str:
        """The tensor's directory, which must be the one the driver saw: a tensor
        replaced meanwhile is another tensor."""
        directory: str | None = ds[name].meta.dir if name in ds else None
        if directory is None or directory != self.directories[name]:
            raise TensorNotFoundError(
                f"tensor {name!r} of {self.url} was removed or replaced while rows were written",
                hint="write the rows again",
            )
        return directory

    def _stage(self, ds: Dataset, samples: list[Any], staged: Staged) -> None:
        """Index and store the videos (as one worker of ``extend(jobs=N)`` does), and
        write their segments (every key in ``staged``)."""
        batch = ds[self.tensor].stage_batch(samples, creds_key=self.creds_key)
        staged.keys += batch.keys
        writer = SegmentWriter(ds.store, staged.directory, staged.keys)
        writer.add(batch)
        done = writer.finish()
        staged.entries = [s.entry for s in done]
        staged.nbytes = sum(s.nbytes for s in done)

    # --- on the driver ------------------------------------------------------------
    def on_write_complete(self, write_result: Any) -> None:
        """ONE commit of every task's rows, in the order of the tasks' results (a
        task's videos and labels stay together, so rows stay aligned)."""
        parts: list[Staged] = [s for s in write_result.write_returns if s.rows]
        if not parts:
            return
        keys = [k for s in parts for k in s.keys]
        # Written.started is this process's monotonic clock: place it as long ago as
        # the first task started, so a commit after a long write checks its objects.
        age = time.time() - min(s.started for s in parts)
        written = Written(keys=keys, started=time.monotonic() - max(age, 0.0))
        entries = [e for s in parts for e in s.entries]
        values = {
            n: (self.directories[n], [v for s in parts for v in s.values[n]]) for n in self.columns
        }
        ds = open_dataset(self.url, None, self._creds)
        commit_staged(ds, {self.tensor: (self.directories[self.tensor], entries)}, values, written)

    def on_write_failed(self, error: Exception) -> None:
        """Nothing was committed. Objects written by tasks that finished stay until
        ``gc`` removes them (no version names them)."""
        log.info("nothing committed to %s (%s); gc removes what the tasks wrote", self.url, error)


def _plain(value: Any) -> Any:
    """A Python value from a block's numpy element (np.str_, np.int64, arrays)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
