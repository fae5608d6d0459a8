"""The packet engine: where a sample's bytes are read from (its chunk, or the linked
object), ranged reads of its packets in batches, fetched ahead of the decoder in a
reader's threads, each packet checked against its CRC-32 (format_spec/reading.md §3).
"""

from __future__ import annotations

import os
import threading
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from hubcli.errors import CorruptDatasetError, LinkChangedError
from hubcli.settings import config

if TYPE_CHECKING:
    from collections.abc import Sequence

    # numpy is imported by the functions that use it: `hubcli.load` and `hubcli info`
    # start without it (issue #15, tests/cli/test_startup.py).
    import numpy as np
    import numpy.typing as npt

    from hubcli.core.sources import SecretsFor
    from hubcli.format.frames import FrameTable
    from hubcli.format.segment import CodecParams, SampleRecord
    from hubcli.storage.base import Store
    from hubcli.storage.links import LinkedObject
    from hubcli.video.decode import Picture
    from hubcli.video.plan import Run

#: Packets are fetched in batches of about this many bytes, so a long run streams
#: through constant memory instead of being read whole.
PACKET_BATCH_BYTES = 16 << 20


class ByteSource(Protocol):
    """Where a sample's packets are read from: its chunk, or the linked object."""

    where: str

    @property
    def coalesce_gap(self) -> int: ...

    @property
    def fetch_ahead(self) -> bool:
        """Whether a read waits on the network, so that reading ahead pays."""

    def damaged(self, packet: int) -> Exception:
        """The error for a packet whose bytes fail their CRC."""

    def read(self, ranges: list[tuple[int, int]]) -> list[bytes]: ...


@contextmanager
def named_object(store: Store, key: str) -> Iterator[None]:
    """An object the state names must exist: a missing one means a damaged dataset, or
    an old version whose objects gc removed while it was open."""
    try:
        yield
    except FileNotFoundError:
        raise CorruptDatasetError(
            f"{store.describe(key)} is missing, though this version of the dataset names it",
            hint="the dataset is damaged, or gc removed this old version: load it again",
        ) from None


@dataclass
class ChunkBytes:
    """A stored sample's region of its chunk."""

    store: Store
    key: str
    base: int
    where: str

    @property
    def coalesce_gap(self) -> int:
        return self.store.coalesce_gap

    @property
    def fetch_ahead(self) -> bool:
        return self.store.remote

    def read(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        with named_object(self.store, self.key):
            return self.store.get_ranges(
                self.key, [(self.base + a, self.base + b) for a, b in ranges]
            )

    def damaged(self, packet: int) -> Exception:
        return CorruptDatasetError(
            f"{self.where}: packet {packet} fails its checksum",
            hint="the chunk is damaged; restore it from a backup",
        )


@dataclass
class LinkBytes:
    """The bytes of a linked sample, read in place."""

    obj: LinkedObject
    where: str

    @property
    def coalesce_gap(self) -> int:
        return 1 << 20 if self.obj.kind == "local" else 64 << 10

    @property
    def fetch_ahead(self) -> bool:
        # Not for http(s) and Drive: whether the server honours Range is learnt from
        # the first read (LinkedObject.read_ranges), which must not race another.
        return self.obj.kind in ("s3", "gcs")

    def read(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        return self.obj.read_ranges(ranges)

    def damaged(self, packet: int) -> Exception:
        return LinkChangedError(
            f"{self.where}: packet {packet} fails its checksum: the linked object changed "
            "since it was appended",
            hint="append it again to index the new version",
        )


def open_link(record: SampleRecord, label: str, secrets_for: SecretsFor) -> LinkBytes:
    """The linked object of ``record``, after checking it is the one that was indexed."""
    assert record.link is not None
    # Loaded here: reading a dataset without links needs none of the link machinery.
    from hubcli.storage.links import Identity, open_linked

    obj = open_linked(record.link.url, secrets_for(record.link.creds_key))
    now = obj.identity()
    then = Identity(record.size, record.link.etag, record.link.modified)
    if not now.same_as(then):
        # Nothing about the object now at the URL (size, ETag, time): a hostile dataset
        # could link any file or object the reader can see and learn them from the error.
        raise LinkChangedError(
            f"{obj.shown} ({label}) changed since it was appended",
            hint="append it again to index the new version",
        )
    return LinkBytes(obj, f"{obj.shown} ({label})")


#: Opens the bytes of a linked sample (the dataset resolves its creds key).
LinkOpener = Callable[["SampleRecord", str], ByteSource]


class ReadAhead:
    """The threads that fetch packets ahead of the decoder: one pool per reader, made
    on the first read that needs it and kept for the next (a pool per read would start
    ``read_ahead`` threads each time). A forked child gets a new pool (the parent's
    threads do not exist there); ``close`` ends it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pid = 0
        self._workers = 0

    def pool(self, workers: int) -> ThreadPoolExecutor:
        """The pool, with ``workers`` threads (a new one if the setting changed)."""
        with self._lock:
            pid = os.getpid()
            if self._pool is None or self._pid != pid or self._workers != workers:
                # An old pool is dropped, not shut down: a read may still be using it,
                # and its threads end once it is garbage.
                self._pool = ThreadPoolExecutor(workers, thread_name_prefix="hubcli-fetch")
                self._pid, self._workers = pid, workers
            return self._pool

    def close(self) -> None:
        """End the threads once they finish what was asked of them (a later read makes a
        new pool; a read under way goes on without reading ahead)."""
        with self._lock:
            pool, self._pool = self._pool, None
            if pool is not None and self._pid == os.getpid():
                pool.shutdown(wait=False)


#: For packet reads outside any reader (RunPackets without ``ahead``).
_SHARED = ReadAhead()


class RunPackets:
    """The packets of planned runs, for ``decode_frames``: a callable ``(start, stop)``
    yielding CRC-checked packets in decode order.

    Where the source waits on the network, the batches of the runs are fetched ahead
    in ``ahead``'s threads, ``hubcli.config.read_ahead`` at a time, in the order the
    decoder will want them: 32 spaced frames of a remote video then cost about the
    slowest few requests, not the sum of 32 round trips. The bytes are the same either
    way. A context manager: leaving it drops what was fetched ahead and not used."""

    def __init__(
        self,
        source: ByteSource,
        table: FrameTable,
        runs: Sequence[Run],
        ahead: ReadAhead | None = None,
    ) -> None:
        self.source = source
        self.table = table
        self._depth = config.read_ahead
        self._ahead: deque[tuple[range, Future[_Fetched]]] = deque()
        self._todo: deque[range] = deque()
        self._pool: ThreadPoolExecutor | None = None
        if source.fetch_ahead and self._depth > 0:
            self._todo.extend(b for run in runs for b in _batches(table, run.start, run.stop))
        if len(self._todo) > 1:
            self._pool = (ahead or _SHARED).pool(self._depth)
            self._fill()

    def __enter__(self) -> RunPackets:
        return self

    def __exit__(self, *exc: object) -> None:
        for _, future in self._ahead:
            future.cancel()
        self._ahead.clear()

    def __call__(self, start: int, stop: int) -> Iterator[bytes]:
        for batch in _batches(self.table, start, stop):
            yield from _check_batch(self.source, self.table, batch, self._fetched(batch))

    def _fill(self) -> None:
        if self._pool is None:
            return
        while self._todo and len(self._ahead) < self._depth:
            try:
                future = self._pool.submit(_fetch_batch, self.source, self.table, self._todo[0])
            except RuntimeError:  # the reader was closed meanwhile: read as asked
                self._pool = None
                return
            self._ahead.append((self._todo.popleft(), future))

    def _fetched(self, batch: range) -> _Fetched:
        # A run the decoder left early skips its remaining batches: drop them.
        while self._ahead and self._ahead[0][0].start < batch.start:
            self._ahead.popleft()[1].cancel()
        if self._ahead and self._ahead[0][0] == batch:
            future = self._ahead.popleft()[1]
            self._fill()
            return future.result()
        # Not asked for yet (the skipped batches held the queue): take it, and what
        # the decoder skipped, off the plan, so that no batch is fetched twice.
        while self._todo and self._todo[0].start <= batch.start:
            self._todo.popleft()
        self._fill()
        return _fetch_batch(self.source, self.table, batch)


def decode_pictures(
    codec: CodecParams,
    table: FrameTable,
    frames: npt.ArrayLike,
    source: ByteSource,
    *,
    ahead: ReadAhead | None,
    where: str,
    size: tuple[int, int] | None = None,
    threads: int | None = None,
) -> Iterator[tuple[int, Picture]]:
    """Decode ``frames`` (frame numbers, any order) from ``source``: yields ``(packet,
    picture)`` once per distinct packet, in decode-output order; see ``decode_frames``.
    The packets are read as runs, fetched ahead in ``ahead``'s threads."""
    import numpy as np

    from hubcli.video.decode import decode_frames  # PyAV loads with the first decode
    from hubcli.video.plan import plan_runs

    runs = plan_runs(table, np.asarray(frames))
    with RunPackets(source, table, runs, ahead) as read_packets:
        yield from decode_frames(
            codec, table, runs, read_packets, where=where, size=size, threads=threads
        )


@dataclass(frozen=True, slots=True)
class _Fetched:
    """A batch's merged ranges, which of them holds each packet, and their bytes."""

    ranges: list[tuple[int, int]]
    owner: list[int]
    blobs: list[bytes]


def _fetch_batch(source: ByteSource, table: FrameTable, batch: range) -> _Fetched:
    """Read the packets of ``batch`` as merged ranges (see ``coalesce``)."""
    import numpy as np

    offsets = table.offset[batch.start : batch.stop]
    sizes = table.size[batch.start : batch.stop].astype(np.int64)
    gap = source.coalesce_gap if config.coalesce_gap is None else config.coalesce_gap
    ranges, owner = coalesce(offsets, sizes, gap)
    return _Fetched(ranges, owner, source.read(ranges))


def _check_batch(
    source: ByteSource, table: FrameTable, batch: range, fetched: _Fetched
) -> Iterator[bytes]:
    """Cut ``batch``'s packets out of the merged ranges read for it; check each CRC-32."""
    import numpy as np

    offsets = table.offset[batch.start : batch.stop]
    sizes = table.size[batch.start : batch.stop].astype(np.int64)
    ranges, owner, blobs = fetched.ranges, fetched.owner, fetched.blobs
    for n, i in enumerate(batch):
        r = owner[n]
        lo = int(offsets[n]) - ranges[r][0]
        data = blobs[r][lo : lo + int(sizes[n])]
        if len(data) != sizes[n] or zlib.crc32(data) & 0xFFFFFFFF != int(table.crc32[i]):
            raise source.damaged(i)
        yield data


def coalesce(
    offsets: np.ndarray, sizes: np.ndarray, max_gap: int
) -> tuple[list[tuple[int, int]], list[int]]:
    """Merge byte ranges whose gap is at most ``max_gap``. Returns the merged ranges and,
    for each input range, the index of the merged range holding it."""
    import numpy as np

    order = np.argsort(offsets, kind="stable")
    ranges: list[tuple[int, int]] = []
    owner = [0] * len(offsets)
    for n in order:
        a, b = int(offsets[n]), int(offsets[n] + sizes[n])
        if ranges and a - ranges[-1][1] <= max_gap:
            ranges[-1] = (ranges[-1][0], max(ranges[-1][1], b))
        else:
            ranges.append((a, b))
        owner[n] = len(ranges) - 1
    return ranges, owner


def _batches(table: FrameTable, start: int, stop: int) -> Iterator[range]:
    import numpy as np

    sizes = table.size[start:stop].astype(np.int64)
    ends = np.cumsum(sizes)
    first = start
    while first < stop:
        # Take packets until the batch passes the byte budget (at least one packet).
        done = int(ends[first - start - 1]) if first > start else 0
        last = int(np.searchsorted(ends, done + PACKET_BATCH_BYTES, side="right")) + start
        last = min(max(last, first + 1), stop)
        yield range(first, last)
        first = last
