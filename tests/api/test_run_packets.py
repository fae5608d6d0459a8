"""RunPackets: packets of planned runs, fetched ahead where reads wait on the network."""

from __future__ import annotations

import threading
import zlib

import numpy as np
import pytest

import hubcli
from hubcli.core import packets as packets_mod
from hubcli.core.packets import RunPackets
from hubcli.errors import CorruptDatasetError
from hubcli.format.frames import FLAG_KEYFRAME, FrameTable
from hubcli.video.plan import Run

PACKET = 1000


class BytesSource:
    """A ByteSource over bytes in memory that records each read and can hold reads
    until released (to see how far ahead they were asked for)."""

    where = "memory"
    coalesce_gap = 0

    def __init__(self, data: bytes, fetch_ahead: bool) -> None:
        self.data = data
        self.fetch_ahead = fetch_ahead
        self.reads: list[tuple[int, int]] = []
        self.threads: set[str] = set()
        self.readers: list[str] = []  # the thread of each read
        self.lock = threading.Lock()

    def read(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        with self.lock:
            self.reads.extend(ranges)
            self.threads.add(threading.current_thread().name)
            self.readers.extend([threading.current_thread().name] * len(ranges))
        return [self.data[a:b] for a, b in ranges]

    def damaged(self, packet: int) -> Exception:
        return CorruptDatasetError(f"packet {packet} fails its checksum")


def _table(count: int, data: bytes) -> FrameTable:
    offsets = np.arange(count, dtype=np.int64) * PACKET
    flags = np.zeros(count, np.uint8)
    flags[::10] = FLAG_KEYFRAME
    crcs = [zlib.crc32(data[o : o + PACKET]) for o in offsets.tolist()]
    return FrameTable(
        offset=offsets,
        size=np.full(count, PACKET, np.uint32),
        pts=np.arange(count, dtype=np.int64),
        dts=np.arange(count, dtype=np.int64),
        flags=flags,
        crc32=np.array(crcs, np.uint32),
        frame_packet=np.arange(count, dtype=np.uint32),
    )


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(packets_mod, "PACKET_BATCH_BYTES", 3 * PACKET)  # 3 packets a batch


def _data(count: int) -> bytes:
    return np.random.default_rng(7).integers(0, 256, count * PACKET, np.uint8).tobytes()


RUNS = [Run(0, 8, frozenset({7})), Run(20, 25, frozenset({24})), Run(40, 50, frozenset({49}))]


def _expected(data: bytes, runs: list[Run]) -> list[bytes]:
    return [data[i * PACKET : (i + 1) * PACKET] for r in runs for i in range(r.start, r.stop)]


@pytest.mark.parametrize("ahead", [False, True])
def test_packets_are_the_runs_bytes(small_batches, ahead):
    data = _data(60)
    source = BytesSource(data, fetch_ahead=ahead)
    table = _table(60, data)
    with RunPackets(source, table, RUNS) as packets:
        got = [p for r in RUNS for p in packets(r.start, r.stop)]
    assert got == _expected(data, RUNS)
    # The same bytes either way: each needed packet read once, nothing else.
    needed = {(i * PACKET, (i + 1) * PACKET) for r in RUNS for i in range(r.start, r.stop)}
    read = [
        (a + k * PACKET, a + (k + 1) * PACKET)
        for a, b in source.reads
        for k in range((b - a) // PACKET)
    ]
    assert sorted(read) == sorted(needed)
    fetchers = {t for t in source.threads if t.startswith("hubcli-fetch")}
    assert bool(fetchers) == ahead


def test_reads_ahead_of_the_decoder(small_batches):
    data = _data(60)
    source = BytesSource(data, fetch_ahead=True)
    table = _table(60, data)
    with RunPackets(source, table, RUNS) as packets:
        first = next(iter(packets(0, 8)))
        assert first == data[:PACKET]
        # While the decoder holds packet 0, the batches after it are on their way.
        deadline = threading.Event()
        for _ in range(200):
            with source.lock:
                if len(source.reads) >= hubcli.config.read_ahead:
                    break
            deadline.wait(0.01)
        with source.lock:
            assert len(source.reads) >= hubcli.config.read_ahead
            assert max(a for a, _ in source.reads) > 8 * PACKET  # beyond the first run


def test_a_run_left_early_skips_its_rest(small_batches):
    data = _data(60)
    source = BytesSource(data, fetch_ahead=True)
    table = _table(60, data)
    with RunPackets(source, table, RUNS) as packets:
        it = packets(0, 8)
        assert next(it) == data[:PACKET]  # the decoder had what it wanted
        tail = list(packets(40, 50))  # the next run it asks for
    assert tail == _expected(data, [RUNS[2]])


@pytest.mark.parametrize("ahead", [False, True])
def test_a_damaged_packet_is_refused(small_batches, ahead):
    data = bytearray(_data(60))
    table = _table(60, bytes(data))
    data[21 * PACKET + 5] ^= 0xFF  # packet 21, in the second run
    source = BytesSource(bytes(data), fetch_ahead=ahead)
    with RunPackets(source, table, RUNS) as packets:
        assert len(list(packets(0, 8))) == 8
        it = packets(20, 25)
        assert next(it) == bytes(data[20 * PACKET : 21 * PACKET])
        with pytest.raises(CorruptDatasetError, match="packet 21 fails"):
            next(it)


def test_a_failed_read_reaches_the_caller(small_batches):
    data = _data(60)
    table = _table(60, data)

    class Failing(BytesSource):
        def read(self, ranges):
            if ranges[0][0] >= 40 * PACKET:
                raise OSError("connection reset")
            return super().read(ranges)

    with RunPackets(Failing(data, True), table, RUNS) as packets:
        assert len(list(packets(0, 8))) == 8
        assert len(list(packets(20, 25))) == 5
        with pytest.raises(OSError, match="connection reset"):
            list(packets(40, 50))


def test_a_long_run_left_early_fetches_nothing_twice(small_batches):
    data = _data(120)
    source = BytesSource(data, fetch_ahead=True)
    table = _table(120, data)
    runs = [Run(0, 60, frozenset({0})), Run(90, 99, frozenset({98}))]  # 20 batches, then 3
    with RunPackets(source, table, runs) as packets:
        assert next(packets(0, 60)) == data[:PACKET]  # left after its first packet
        tail = list(packets(90, 99))
    assert tail == _expected(data, [runs[1]])
    assert len(source.reads) == len(set(source.reads))  # no range read twice
    # Only the first run's batches that were already in flight were wasted.
    wasted = [a for a, _ in source.reads if a < 90 * PACKET]
    assert len(wasted) <= 1 + hubcli.config.read_ahead
    # After the skip the reads go on ahead: the later batches came from fetch threads.
    late = [t for (a, _), t in zip(source.reads, source.readers, strict=True) if a > 90 * PACKET]
    assert late and all(t.startswith("hubcli-fetch") for t in late)
