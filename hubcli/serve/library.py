"""What the playback server can show: a dataset's samples, made playable on demand, and
the bytes of each checked before they leave (issue 13, points 2 and 4).

Every byte sent is read through the dataset's store (which refuses symlinks and special
files) or through the link checks, and verified as a reader would:

- a stored sample's chunk must start with the chunk magic;
- where the sample is read locally (a local store, a local link), its whole stored file
  is hashed once, in bounded memory, against the record's SHA-256 before its first byte
  is sent: that covers the container's own bytes too, not only the packets, and a local
  read of the whole file costs little;
- where it is read over the network, hashing would download the whole video before the
  player starts, and the contract is that only the asked ranges leave the bucket; there
  a bucket has no symlink to follow out of the dataset, and each response checks the
  CRC-32 of the packets it holds whole (what a reader checks), before sending them;
- that packet check runs on local reads as well, so bytes changed after the hash fail
  too;
- remuxed or transcoded samples are hashed while they are copied out, before FFmpeg
  sees them, and are then served from the server's private copy.
"""

from __future__ import annotations

import hashlib
import json
import threading
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hubcli.core.packets import ChunkBytes, LinkBytes
from hubcli.core.sample import SampleView
from hubcli.errors import CorruptDatasetError, HubcliError, LinkChangedError
from hubcli.format.segment import CHUNK_MAGIC
from hubcli.serve.png import encode_png
from hubcli.video.remux import playback_plan, remux_to_mp4, transcode_to_mp4

if TYPE_CHECKING:
    from collections.abc import Generator, Iterator
    from pathlib import Path

    from hubcli.core.dataset import Dataset
    from hubcli.core.packets import ByteSource
    from hubcli.format.frames import FrameTable
    from hubcli.format.segment import SampleRecord

#: Bytes read (and hashed, and sent) at a time: a response holds about this much.
PIECE = 1 << 20
#: The largest packet a response holds back until its CRC-32 is checked; with one read
#: piece on top this bounds a response's memory well under the 32 MiB goal. Larger
#: packets (none in browser-playable video of sane bitrates) are sent as read: the
#: SHA-256 covers them on local reads, and a reader's decode still checks them.
HOLD_MAX = 8 << 20
_CONTENT_TYPES = {
    "mp4": "video/mp4",
    "mov": "video/mp4",
    "webm": "video/webm",
    "mkv": "video/x-matroska",
}

#: Reads bytes ``[start, end)`` of a sample, exactly that many (or raises).
Reader = Callable[[int, int], bytes]
#: What a response sends at a time.
Piece = bytes | memoryview


class PacketCheck:
    """A sample's packets ordered by where they end, to check the CRC-32 of each packet a
    response holds whole before any of its bytes is sent."""

    def __init__(self, table: FrameTable, size: int, damaged: Callable[[int], Exception]) -> None:
        starts = table.offset.astype(np.int64)
        ends = starts + table.size.astype(np.int64)
        # Supplement packets lie past the stored file and are never served.
        keep = np.flatnonzero((ends <= size) & (ends - starts <= HOLD_MAX))
        order = keep[np.argsort(ends[keep], kind="stable")]
        self.starts, self.ends = starts[order], ends[order]
        self.crcs = table.crc32[order].astype(np.int64)
        self.ids = order
        self.damaged = damaged

    def pieces(self, read: Reader, start: int, end: int) -> Generator[Piece, None, None]:
        """Bytes ``[start, end)`` in pieces, each sent only once every packet that ends in
        it and lies wholly in ``[start, end)`` has passed its CRC-32. Reads are exactly
        the asked range, in order; a packet that a read cuts is held back until the
        next read completes it."""
        held = _Held(start)
        pos = start
        while pos < end:
            stop = min(end, pos + PIECE)
            held.add(read(pos, stop))
            self._check(held, pos, stop, start, end)
            yield from held.take(self._open_packet_start(stop, start, end))
            pos = stop

    def _check(self, held: _Held, pos: int, stop: int, first: int, last: int) -> None:
        """CRC-32 of the packets ending in ``(pos, stop]`` that lie wholly in the range
        (their first byte is still held: see ``_open_packet_start``)."""
        lo = int(np.searchsorted(self.ends, pos, side="right"))
        hi = int(np.searchsorted(self.ends, min(stop, last), side="right"))
        for i in range(lo, hi):
            a = int(self.starts[i])
            if a >= first and held.crc32(a, int(self.ends[i])) != int(self.crcs[i]):
                raise self.damaged(int(self.ids[i]))

    def _open_packet_start(self, stop: int, first: int, last: int) -> int:
        """Where the earliest packet that starts before ``stop`` and ends after it (and
        within the range) starts: bytes from there on wait for the next read."""
        lo = int(np.searchsorted(self.ends, stop, side="right"))
        hi = int(np.searchsorted(self.ends, min(last, stop + HOLD_MAX), side="right"))
        starts = self.starts[lo:hi]
        open_ = starts[(starts < stop) & (starts >= first)]
        return int(open_.min()) if len(open_) else stop


class _Held:
    """Bytes read and not sent yet: consecutive reads from ``start`` on, kept as they
    came (no copies)."""

    def __init__(self, start: int) -> None:
        self.start = start
        self.views: deque[memoryview] = deque()

    def add(self, data: bytes) -> None:
        self.views.append(memoryview(data))

    def crc32(self, a: int, b: int) -> int:
        """The CRC-32 of bytes ``[a, b)``, which must be held."""
        crc, pos = 0, self.start
        for view in self.views:
            lo, hi = max(a, pos), min(b, pos + len(view))
            if lo < hi:
                crc = zlib.crc32(view[lo - pos : hi - pos], crc)
            pos += len(view)
        return crc & 0xFFFFFFFF

    def take(self, cut: int) -> list[memoryview]:
        """Give up bytes ``[start, cut)``, to be sent."""
        out = []
        while self.start < cut:
            view = self.views.popleft()
            n = min(len(view), cut - self.start)
            out.append(view[:n])
            if n < len(view):
                self.views.appendleft(view[n:])
            self.start += n
        return out


@dataclass
class Playable:
    """A sample's bytes as the browser gets them: read from the dataset and checked
    (direct), or a verified local copy (remux, transcode)."""

    size: int
    content_type: str
    mode: str  # direct, remux, transcode
    source: ByteSource | None = None
    packets: PacketCheck | None = None
    path: Path | None = None

    def pieces(self, start: int, end: int) -> Generator[Piece, None, None]:
        """Bytes ``[start, end)``, at most about ``PIECE + HOLD_MAX`` held at a time."""
        if self.path is not None:
            return _file_pieces(self.path, start, end)
        assert self.source is not None
        assert self.packets is not None
        return self.packets.pieces(self._read, start, end)

    def _read(self, start: int, end: int) -> bytes:
        assert self.source is not None
        return read_exactly(self.source, start, end)


def read_exactly(source: ByteSource, start: int, end: int) -> bytes:
    data = source.read([(start, end)])[0]
    if len(data) != end - start:
        raise CorruptDatasetError(
            f"{source.where}: shorter than its record says",
            hint="the dataset is damaged; run hubcli verify",
        )
    return data


def _file_pieces(path: Path, start: int, end: int) -> Generator[Piece, None, None]:
    with open(path, "rb") as f:
        f.seek(start)
        for pos in range(start, end, PIECE):
            yield f.read(min(PIECE, end - pos))


class Library:
    """The dataset's samples, each made playable once, on demand. Preparing a sample
    (hashing, remuxing, transcoding, a stalled read) holds that sample's own lock only:
    other samples are served meanwhile."""

    def __init__(self, dataset: Dataset, cache_dir: Path) -> None:
        self.dataset = dataset
        self.cache_dir = cache_dir
        self._playables: dict[tuple[str, int], Playable] = {}
        self._thumbs: dict[tuple[str, int], bytes] = {}
        self._gates: dict[tuple[str, int], threading.Lock] = {}
        self._lock = threading.Lock()  # guards _gates only, never held during I/O

    def sample(self, tensor: str, index: int) -> SampleView:
        """A video sample (a label tensor has nothing to play: not found)."""
        if tensor not in self.dataset or not 0 <= index < len(self.dataset[tensor]):
            raise LookupError(f"{tensor}[{index}]")
        if self.dataset[tensor].holds_values:
            raise LookupError(f"{tensor} holds no videos")
        return SampleView(self.dataset[tensor], index, ())

    def video_tensors(self) -> list[str]:
        return [name for name, t in self.dataset.tensors.items() if not t.holds_values]

    def labels(self, start: int, stop: int) -> dict[int, dict[str, str]]:
        """Rows ``start:stop`` of every label tensor as short text, for the pages: one
        vectorised read per tensor (a few requests), never one per sample."""
        rows: dict[int, dict[str, str]] = {i: {} for i in range(start, stop)}
        for name, tensor in self.dataset.tensors.items():
            end = min(stop, len(tensor))
            if not tensor.holds_values or end <= start:
                continue
            view = tensor[start:end]
            if tensor.htype == "class_label":
                texts = [", ".join(names) for names in view.data()["text"]]
            else:
                texts = [_label_text(v) for v in view.numpy(aslist=True)]
            for offset, text in enumerate(texts):
                rows[start + offset][name] = text
        return rows

    def mode(self, tensor: str, index: int) -> str:
        rec = self.sample(tensor, index).record()
        return playback_plan(rec.format, rec.codec.name)

    def playable(self, tensor: str, index: int) -> Playable:
        key = (tensor, index)
        with self._lock:
            gate = self._gates.setdefault(key, threading.Lock())
        with gate:  # one preparation per sample, even with parallel requests
            found = self._playables.get(key)
            if found is None:
                found = self._playables[key] = self._prepare(tensor, index)
            return found

    def _prepare(self, tensor: str, index: int) -> Playable:
        rec = self.sample(tensor, index).record()
        reader = self.dataset[tensor].reader()
        source = reader.byte_source(index)
        if isinstance(source, ChunkBytes):
            _check_magic(source)
        mode = playback_plan(rec.format, rec.codec.name)
        if mode != "direct":
            return self._local_copy(tensor, index, rec, source, mode)
        if _reads_locally(source):
            _check_sha256(source, rec, _hashed_pieces(source, rec.size))
        packets = PacketCheck(reader.frame_table(index), rec.size, source.damaged)
        return Playable(rec.size, _CONTENT_TYPES[rec.format], mode, source, packets)

    def _local_copy(
        self, tensor: str, index: int, rec: SampleRecord, source: ByteSource, mode: str
    ) -> Playable:
        """Copy the sample out (hashing it), then remux or transcode the verified copy."""
        original = self.cache_dir / f"{tensor}-{index}-source.{rec.format}"
        target = self.cache_dir / f"{tensor}-{index}.mp4"
        try:
            with open(original, "wb") as f:
                _check_sha256(source, rec, _written(f.write, _hashed_pieces(source, rec.size)))
            (remux_to_mp4 if mode == "remux" else transcode_to_mp4)(original, target)
        finally:
            original.unlink(missing_ok=True)
        return Playable(target.stat().st_size, "video/mp4", mode, path=target)

    def thumbnail(self, tensor: str, index: int) -> bytes:
        """The first frame as PNG (decoded, so its packets are CRC-checked)."""
        key = (tensor, index)
        if key not in self._thumbs:
            view = SampleView(self.dataset[tensor], index, (0,))
            self._thumbs[key] = encode_png(view.numpy())
        return self._thumbs[key]


def _reads_locally(source: ByteSource) -> bool:
    """Whether hashing the whole sample is a local read (see the module docstring)."""
    if isinstance(source, ChunkBytes):
        return not source.store.remote
    return isinstance(source, LinkBytes) and source.obj.kind == "local"


def _check_magic(source: ChunkBytes) -> None:
    """A chunk starts with its magic, and a sample lies after it."""
    magic = source.store.get_range(source.key, 0, len(CHUNK_MAGIC))
    if magic != CHUNK_MAGIC or source.base < len(CHUNK_MAGIC):
        raise CorruptDatasetError(
            f"{source.where}: not a hubcli chunk (bad magic or offset)",
            hint="the dataset is damaged or was altered; run hubcli verify",
        )


def _hashed_pieces(source: ByteSource, size: int) -> Iterator[bytes]:
    for pos in range(0, size, PIECE):
        yield read_exactly(source, pos, min(size, pos + PIECE))


def _written(write: Callable[[bytes], object], pieces: Iterator[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        write(piece)
        yield piece


def _check_sha256(source: ByteSource, rec: SampleRecord, pieces: Iterator[bytes]) -> None:
    sha = hashlib.sha256()
    for piece in pieces:
        sha.update(piece)
    if sha.digest() == rec.sha256:
        return
    error: type[HubcliError] = LinkChangedError if rec.link else CorruptDatasetError
    raise error(
        f"{source.where}: its bytes fail their SHA-256; they are not the file that was appended",
        hint="run hubcli verify; restore the dataset (or append the link again)",
    )


def _label_text(value: object) -> str:
    """A text, json or generic sample, shortened for a page (the page escapes it)."""
    if isinstance(value, str):
        text = value
    elif hasattr(value, "tolist"):
        text = json.dumps(value.tolist())
    else:
        text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 200 else text[:197] + "..."
