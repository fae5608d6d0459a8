"""What hubcli's Ray read tasks read and decode, counted in each Ray worker.

``install`` is the workers' ``worker_process_setup_hook``: it wraps the local store's
reads (bytes, those of chunk objects apart), the packet a decoder is given
(``hubcli.video.decode._packet``, called once per packet decoded) and the frame read
task (its wall time), which appends what its task counted to the file ``$HUBCLI_BENCH_COUNTS`` (one
JSON line per task) when it ends. The driver sums the lines of a read. Nothing is
changed when the variable is unset. This module reaches into hubcli's internals: it is
the benchmark's probe, not an interface.
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

COUNTS_ENV = "HUBCLI_BENCH_COUNTS"
#: A chunk object's key holds this (format_spec/layout.md): the video bytes.
CHUNK_PART = "/chunks/"

_counts = {"packets": 0, "bytes": 0, "chunk_bytes": 0, "tasks": 0, "task_us": 0}


def install() -> None:
    path = os.environ.get(COUNTS_ENV)
    if not path:
        return
    from hubcli.ray import source
    from hubcli.storage.local import LocalStore
    from hubcli.video import decode

    packet = decode._packet

    def counted_packet(*args: Any) -> Any:
        _counts["packets"] += 1
        return packet(*args)

    decode._packet = counted_packet  # type: ignore[assignment]
    LocalStore.get = _counted_get(LocalStore.get)  # type: ignore[method-assign]
    LocalStore.get_ranges = _counted_ranges(LocalStore.get_ranges)  # type: ignore[method-assign]
    read_units = source.FrameSource.read_units

    def counted_read_units(job: Any, units: Any) -> Iterator[Any]:
        start = time.perf_counter()
        try:
            yield from read_units(job, units)
        finally:
            _counts["tasks"] += 1
            _counts["task_us"] += int((time.perf_counter() - start) * 1e6)
            _flush(path)

    # Read tasks carry FrameSource.read_units by reference: they find this one.
    source.FrameSource.read_units = staticmethod(counted_read_units)  # type: ignore[method-assign]


def _add(key: str, nbytes: int) -> None:
    _counts["bytes"] += nbytes
    if CHUNK_PART in key:
        _counts["chunk_bytes"] += nbytes


def _counted_get(get: Callable[..., bytes]) -> Callable[..., bytes]:
    def counted(self: Any, key: str) -> bytes:
        data = get(self, key)
        _add(key, len(data))
        return data

    return counted


def _counted_ranges(get_ranges: Callable[..., list[bytes]]) -> Callable[..., list[bytes]]:
    def counted(self: Any, key: str, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        parts = get_ranges(self, key, ranges)
        _add(key, sum(len(p) for p in parts))
        return parts

    return counted


def _flush(path: str) -> None:
    """Append this task's counts (one short line: O_APPEND keeps lines whole) and start
    counting afresh."""
    line = json.dumps({"pid": os.getpid(), **_counts}) + "\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)
    for key in _counts:
        _counts[key] = 0


def collect(path: str) -> dict[str, int]:
    """The sums of the lines at ``path`` (the read's tasks), the file then emptied."""
    totals = dict.fromkeys(_counts, 0)
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                for key, value in json.loads(line).items():
                    if key in totals:
                        totals[key] += int(value)
    except FileNotFoundError:
        pass
    with open(path, "w", encoding="utf-8"):
        pass
    return totals
