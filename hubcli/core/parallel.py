"""Appending and exporting in several processes on one machine (``jobs=N``).

Indexing a video (demuxing it, decode-checking it), hashing and uploading it cost CPU
in code that holds the GIL, so the work is spread over processes, not threads:
``jobs=N`` is this process and N - 1 workers, each taking batches of consecutive files
(an export: samples) as it becomes free. What must happen once and in order stays in
this process: planning, writing the segments (they name the samples in input order,
whatever order the batches finish in), the one commit of an append, and renaming an
export's files into place.

Workers are forked while this process runs a single thread (on Linux, where that can
be told): they start in milliseconds with every module already imported, where a fresh
interpreter takes most of a second, as long as a few hundred small files take to
index. Once any other thread runs (an s3fs/aiohttp event loop, FFmpeg's decoder
threads, read-ahead), a forked copy could inherit a lock held by a thread it does not
have and hang, so workers are started with ``spawn`` instead: a fresh interpreter that
inherits the environment as it is now and no handle of the caller's. Either way each
worker opens the dataset itself, by URL and version; credentials come from the
environment, from the credentials file the caller names by its path, or from creds
keys resolved in the worker (``ENV``, managed keys). No secret is pickled: a source
given explicit secrets in the caller's process is refused, with the fix.

As with any ``multiprocessing`` program, a script that calls ``extend(..., jobs=N)``
must guard its top level with ``if __name__ == "__main__":`` (each worker imports it).
"""

from __future__ import annotations

import atexit
import functools
import gc
import json
import math
import multiprocessing
import os
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hubcli.core.commit import Written
from hubcli.core.ingest import CHUNK_TARGET_BYTES, SegmentWriter, StagedSamples
from hubcli.core.sources import FileSource, LinkSource, UrlSource, VideoSource, as_link, check_keys
from hubcli.errors import HubcliError, InvalidSampleError, StorageError
from hubcli.storage.credentials import Credentials, Source

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from concurrent.futures import Future
    from multiprocessing.queues import SimpleQueue

    from hubcli.core.dataset import Dataset
    from hubcli.core.export import ExportOptions, ExportResult, FrameProgress, SamplePlan, Staging
    from hubcli.core.sources import Progress
    from hubcli.core.tensor import Appended, Tensor, TensorHost

#: Each worker gets about this many batches of an append, so that a slow file near the
#: end does not leave the other workers idle.
BATCHES_PER_WORKER = 4
#: How often the caller collects progress reports while it waits (seconds).
_POLL = 0.1


def check_jobs(jobs: object) -> int:
    """``jobs`` as a number of processes: an int of 1 or more."""
    if isinstance(jobs, bool) or not isinstance(jobs, int):
        raise HubcliError(f"jobs must be an int, not {type(jobs).__name__}")
    if jobs < 1:
        raise HubcliError(
            f"jobs must be 1 or more, not {jobs}",
            hint="give the number of processes to use (1: this process only)",
        )
    return jobs


@dataclass(frozen=True)
class Opener:
    """How a worker opens the dataset: its URL and version, and the path of the
    credentials file its store is read with (None: the environment's)."""

    url: str
    version: int
    creds_file: str | None = None

    @classmethod
    def of(cls, ds: TensorHost, creds_file: str | os.PathLike[str] | None = None) -> Opener:
        """The opener of ``ds`` as it is now (``creds_file``: see :func:`extend`)."""
        url = ds.store.url
        if url.startswith("memory://"):
            raise StorageError(
                f"{url} lives in this process's memory, where other processes cannot reach it",
                hint="use jobs=1 for an in-memory dataset",
            )
        creds = None if creds_file is None else os.fspath(creds_file)
        return cls(url, ds.manifest.version, creds)

    def open(self) -> Dataset:
        from hubcli.core.dataset import load

        creds = None
        if self.creds_file is not None:
            with open(self.creds_file, encoding="utf-8") as f:
                creds = json.load(f)  # the caller has read and checked it already
        return load(self.url, creds=creds, version=self.version)


# --- the pool -------------------------------------------------------------------------

#: A worker's own state: the datasets it opened, and where it reports finished files.
_WORKER: dict[str, Any] = {}


def _init_worker(events: SimpleQueue[tuple[int, int]] | None) -> None:
    _WORKER.clear()
    _WORKER["events"] = events
    # A spawned worker ends with Python's whole shutdown while the caller waits for it,
    # whose collections walk every object left; frozen, they are not (a forked worker
    # leaves with os._exit and never runs this).
    atexit.register(gc.freeze)


def _dataset(opener: Opener) -> Dataset:
    """The dataset of ``opener``, opened once per worker (on its first task, so that an
    error opening it is that task's error, not a broken pool)."""
    ds = _WORKER.get(repr(opener))
    if ds is None:
        ds = _WORKER[repr(opener)] = opener.open()
    return ds


def _report(position: int, nbytes: int) -> None:
    events = _WORKER.get("events")
    if events is not None:
        events.put((position, nbytes))


def start_method() -> str:
    """``fork`` while this process runs one thread alone (Linux: counted in /proc, so
    FFmpeg's and other native threads count too), else ``spawn``."""
    try:
        alone = len(os.listdir("/proc/self/task")) == 1
    except OSError:  # no /proc: threads cannot be counted
        alone = False
    return "fork" if alone and "fork" in multiprocessing.get_all_start_methods() else "spawn"


def _start_method() -> str:
    """:func:`start_method`, with what every worker needs imported first when they are
    forked: imported once here, rather than by each worker on its first task."""
    if start_method() != "fork":
        return "spawn"
    import hubcli.video.decode
    import hubcli.video.index  # noqa: F401  (imports PyAV and numpy)

    return start_method()  # they started no thread, as far as we know: see again


def run_tasks(
    fn: Callable[[Any], Any],
    tasks: Sequence[Any],
    jobs: int,
    on_result: Callable[[Any, bool], None],
    *,
    local: Callable[[int], Any],
    on_event: Callable[[int, int], None] | None = None,
) -> None:
    """Run every task: ``fn(task)`` in ``jobs - 1`` worker processes, and
    ``local(n)`` (task ``n``, the same work) in this one whenever it has nothing else
    to do, so that N jobs start N - 1 interpreters, not N.

    ``on_result(result, ok)`` is called in this process as each task finishes, ``ok``
    False once a task has failed (the result is then only to be cleaned up). After a
    failure no new task starts; those running finish, and the error of the earliest
    failed task (in ``tasks`` order) is raised. ``on_event`` receives what workers
    :func:`_report` (collected every ``_POLL`` seconds; ``local`` calls it itself).
    """
    runner = _Runner(jobs - 1, on_result, on_event)
    try:
        runner.run(fn, tasks, local)
    finally:
        runner.close()
    if runner.failures:
        raise _explained(min(runner.failures, key=lambda f: f[0])[1])


class _Runner:
    """The pool of :func:`run_tasks`, the tasks in flight, and the failures seen."""

    def __init__(
        self,
        workers: int,
        on_result: Callable[[Any, bool], None],
        on_event: Callable[[int, int], None] | None,
    ) -> None:
        context = multiprocessing.get_context(_start_method())
        self.events = context.SimpleQueue() if on_event is not None else None
        self.on_result, self.on_event = on_result, on_event
        self.workers = workers
        self.pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=_init_worker,
            initargs=(self.events,),
        )  # fmt: skip
        self.inflight: dict[Future[Any], int] = {}
        self.failures: list[tuple[int, BaseException]] = []

    def run(
        self, fn: Callable[[Any], Any], tasks: Sequence[Any], local: Callable[[int], Any]
    ) -> None:
        remaining = deque(range(len(tasks)))
        while (remaining and not self.failures) or self.inflight:
            # Two tasks a worker in flight (one running, one ready to start) while there
            # are plenty; one near the end, so that this process gets its share too.
            most = self.workers * (2 if len(remaining) > 2 * self.workers else 1)
            while remaining and not self.failures and len(self.inflight) < most:
                n = remaining.popleft()
                self.inflight[self.pool.submit(fn, tasks[n])] = n
            done = [f for f in self.inflight if f.done()]
            if not done and remaining and not self.failures:
                n = remaining.popleft()
                self._settle(n, functools.partial(local, n))
            elif not done:
                done = list(wait(self.inflight, _POLL, FIRST_COMPLETED).done)
            self._drain()
            for future in sorted(done, key=self.inflight.__getitem__):
                n = self.inflight.pop(future)
                if not future.cancelled():
                    self._settle(n, future.result)

    def _settle(self, n: int, result: Callable[[], Any]) -> None:
        """Hand task ``n``'s result on, or record its error (no new task starts)."""
        try:
            self.on_result(result(), not self.failures)
        except Exception as exc:  # raised by run_tasks, once all have stopped
            self.failures.append((n, exc))
            for future in self.inflight:
                future.cancel()

    def _drain(self) -> None:
        while self.events is not None and self.on_event is not None and not self.events.empty():
            self.on_event(*self.events.get())

    def close(self) -> None:
        """Stop the pool. Interrupted (Ctrl-C): tasks already running finish, and what
        they wrote is handed over, not ok, to be cleaned up with the rest."""
        for future in self.inflight:
            future.cancel()
        self.pool.shutdown(wait=True, cancel_futures=True)
        for future, n in list(self.inflight.items()):
            if not future.cancelled():
                self.failures.append((n, RuntimeError("interrupted")))
                self._settle(n, future.result)
        self.inflight.clear()
        self._drain()


def _explained(error: BaseException) -> BaseException:
    if isinstance(error, BrokenProcessPool):
        return HubcliError(
            "a worker process died (killed, or out of memory); nothing was committed",
            hint="run it again, with fewer jobs if memory is short",
        )
    return error


# --- append -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Batch:
    """Consecutive samples of an append for one worker: positions ``first``, ...; each
    a path or URL (read with the append's creds key), a ``FileSource``/``UrlSource``
    holding no secret, or a ``LinkSource``."""

    first: int
    samples: tuple[Any, ...]


@dataclass(frozen=True)
class _IngestTask:
    opener: Opener
    tensor: str
    creds_key: str | None
    batch: _Batch


def _ingest(task: _IngestTask) -> StagedSamples:
    """A worker's share of an append (see Tensor.stage_batch)."""
    tensor = _dataset(task.opener)[task.tensor]
    batch = task.batch
    staged: StagedSamples = tensor.stage_batch(
        list(batch.samples), first=batch.first, creds_key=task.creds_key, on_file=_report
    )
    return staged


def extend(
    tensor: Tensor,
    samples: Sequence[Any],
    *,
    jobs: int,
    creds_key: str | None = None,
    progress: Progress | None = None,
    on_file: Callable[[int, int], None] | None = None,
    creds_file: str | os.PathLike[str] | None = None,
) -> Appended:
    """``tensor.extend(samples, jobs=N)``: videos indexed and stored by ``jobs``
    processes, then one commit naming them in input order; all of them, or none.

    ``on_file(position, size)`` is called as each file is stored (in the order they
    finish); ``progress`` as in one process, with each file's size twice (indexed,
    copied) once it is stored. ``creds_file``: the credentials file the dataset was
    opened with, which workers read again (None: the environment's).
    """
    from hubcli.core.tensor import Appended, append_change, remove_unless_committed

    ds = tensor.dataset
    ds.check_writable()
    portable = [_portable(tensor, s, creds_key, n, jobs) for n, s in enumerate(samples)]
    if not portable:
        return Appended(0, 0)
    if tensor.is_link:
        check_keys(portable, [k.name for k in ds.manifest.creds_keys])
        creds_key = None  # each link carries its own key now
    opener = Opener.of(ds, creds_file)
    meta, store = tensor.meta, ds.store
    tasks = [_IngestTask(opener, tensor.name, creds_key, b) for b in plan_batches(portable, jobs)]
    written = Written()
    segments = SegmentWriter(store, meta.dir, written.keys)

    def on_result(staged: StagedSamples, ok: bool) -> None:
        written.keys.extend(staged.keys)
        if ok:
            segments.add(staged)

    def on_event(position: int, nbytes: int) -> None:
        if progress is not None:
            progress(nbytes)
            progress(nbytes)
        if on_file is not None:
            on_file(position, nbytes)

    try:

        def here(n: int) -> StagedSamples:
            batch = tasks[n].batch
            staged: StagedSamples = tensor.stage_batch(
                list(batch.samples), first=batch.first, creds_key=creds_key, on_file=on_event
            )
            return staged

        run_tasks(_ingest, tasks, jobs, on_result, local=here, on_event=on_event)
        staged = segments.finish()
        entries = [s.entry for s in staged]
        ds._commit(append_change(tensor.name, meta.dir, entries), written)
    except BaseException:
        remove_unless_committed(store, written)
        raise
    return Appended(sum(e.count for e in entries), sum(s.nbytes for s in staged))


def _portable(tensor: Tensor, sample: Any, creds_key: str | None, n: int, jobs: int) -> Any:
    """``sample`` checked as one process would (no I/O), in a form a worker can be sent:
    no secret, no open handle, no callback."""
    try:
        if tensor.is_link:
            return as_link(sample, creds_key)
        if isinstance(sample, (str, os.PathLike)) and creds_key is not None:
            from hubcli.core.sources import read

            read(sample)  # a bad scheme fails here; the worker reads it with creds_key
            return os.fspath(sample)
        source = tensor._source(sample, creds_key)
        _check_portable(source, jobs)
    except HubcliError as exc:
        exc.source_index = n
        raise
    return source


def _check_portable(source: VideoSource, jobs: int) -> None:
    if isinstance(source, FileSource):
        return
    if isinstance(source, UrlSource):
        creds = source.creds
        if creds is None or (isinstance(creds, Credentials) and creds.source != Source.EXPLICIT):
            return
        raise InvalidSampleError(
            f"{source.name}: read with secrets given in this process, which the jobs={jobs} "
            "worker processes are never sent",
            hint="read it with a creds key (creds_key=...) or the environment's "
            "credentials, or use jobs=1",
        )
    raise InvalidSampleError(
        f"{source.name}: a {type(source).__name__} cannot be sent to a worker process",
        hint="append paths, URLs or hubcli.read(...) sources, or use jobs=1",
    )


def plan_batches(samples: Sequence[Any], jobs: int) -> list[_Batch]:
    """Consecutive samples in batches: at most a chunk's worth of bytes (as far as known
    before reading: a URL counts as a whole chunk), and few enough files for each worker
    to get about BATCHES_PER_WORKER of them."""
    most = max(1, math.ceil(len(samples) / (jobs * BATCHES_PER_WORKER)))
    batches: list[_Batch] = []
    current: list[Any] = []
    first = size = 0
    for n, sample in enumerate(samples):
        nbytes = _known_size(sample)
        if current and (len(current) >= most or size + nbytes > CHUNK_TARGET_BYTES):
            batches.append(_Batch(first, tuple(current)))
            first, current, size = n, [], 0
        current.append(sample)
        size += nbytes
    if current:
        batches.append(_Batch(first, tuple(current)))
    return batches


def _known_size(sample: Any) -> int:
    if isinstance(sample, LinkSource):
        return 0  # nothing of it is stored
    path = sample.path if isinstance(sample, FileSource) else sample
    if isinstance(path, str) and "://" not in path:
        try:
            return os.stat(path).st_size
        except OSError:
            return 0  # it fails in its worker, with the single-process message
    return CHUNK_TARGET_BYTES


# --- export -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _ExportTask:
    """One sample's export (a SamplePlan, its view named by tensor, index and
    selection so that the worker can rebuild it)."""

    opener: Opener
    position: int
    tensor: str
    index: int
    rest: tuple[Any, ...]
    format: str
    path: str
    per_frame: bool
    timestamps: str | None
    options: ExportOptions

    @classmethod
    def of(
        cls, opener: Opener, position: int, plan: SamplePlan, options: ExportOptions
    ) -> _ExportTask:
        view = plan.view
        return cls(
            opener, position, view.tensor.name, view.index, view.rest, plan.format, plan.path,
            plan.per_frame, plan.timestamps, options,
        )  # fmt: skip


@dataclass(frozen=True)
class _Exported:
    position: int
    result: ExportResult
    #: (final name, temporary file) of every file written, for the caller to rename.
    files: list[tuple[str, str]]


def _export(task: _ExportTask) -> _Exported:
    from hubcli.core.export import SamplePlan, Staging, export_plan
    from hubcli.core.sample import SampleView

    ds = _dataset(task.opener)
    view = SampleView(ds[task.tensor], task.index, task.rest)
    plan = SamplePlan(view, task.format, task.path, task.per_frame, task.timestamps)
    stage = Staging()
    try:
        result = export_plan(plan, task.options, stage, lambda n: None)
    except BaseException:
        stage.discard()
        raise
    return _Exported(task.position, result, stage.pending())


def export_plans(
    plans: Sequence[SamplePlan],
    options: ExportOptions,
    stage: Staging,
    progress: FrameProgress,
    *,
    jobs: int,
    creds_file: str | os.PathLike[str] | None = None,
) -> list[ExportResult]:
    """Write the planned samples in ``jobs`` processes, each file under its temporary
    name, adopted by ``stage`` (which renames them all into place, or removes them all)."""
    opener = Opener.of(plans[0].view.tensor.dataset, creds_file)
    tasks = [_ExportTask.of(opener, n, plan, options) for n, plan in enumerate(plans)]
    frames = [len(p.view.frame_positions()[0]) for p in plans]
    results: dict[int, ExportResult] = {}

    def on_result(done: _Exported, ok: bool) -> None:
        stage.adopt(done.files)
        if ok:
            results[done.position] = done.result
            progress(frames[done.position])

    def here(n: int) -> _Exported:
        from hubcli.core.export import Staging, export_plan

        mine = Staging()
        try:
            result = export_plan(plans[n], options, mine, lambda k: None)
            return _Exported(n, result, mine.pending())
        except BaseException:
            mine.discard()
            raise

    run_tasks(_export, tasks, jobs, on_result, local=here)
    return [results[n] for n in range(len(plans))]
