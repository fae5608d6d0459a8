"""labels: issue #17's goals for label tensors, each against a peer measured in the
same run (the runs of hubcli and its peer interleaved, so that a busy moment hits both).

- ``ds.labels.numpy()`` of 100,000 class labels, on a freshly loaded dataset (its value
  cache cold; the load is not timed) against ``np.load`` of the same int64 array;
- 100,000 ``text`` values, ``ds.caps.numpy(aslist=True)`` and ``ds.caps.numpy()``,
  against ``[json.loads(l) for l in open(f)]`` of a JSON Lines file of the same strings;
- one label, ``ds.labels[i].numpy()`` for random ``i`` after a first read (warm);
- a row append ``ds.extend({"videos": paths, "labels": labels})`` against appending the
  same videos alone, ``ds.videos.extend(paths)``, each into a fresh dataset (tiny
  64x48 0.2 s clips repeated: the videos' own cost is what the row append adds to);
- on S3 (moto behind the counting proxy; the writes go to the server directly): the
  requests after ``hubcli.load`` that read all 100,000 labels, for a tensor written in
  one append, grown by many appends, and those appends compacted.
"""

from __future__ import annotations

import json
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import hubcli
from benchmarks.results import LabelsResult, S3Read, Versus
from benchmarks.videos import CACHE, SEED
from testkit.env import patched_env, s3_env
from testkit.proxy import Proxy
from testkit.s3 import MotoS3
from testkit.videos import VideoSpec, make_video

if TYPE_CHECKING:
    from benchmarks.prepare import Bench

#: Labels and texts in the whole-tensor reads and on S3.
COUNT = 100_000
CLASSES = [f"class{k:02d}" for k in range(20)]
#: Distinct clips the row append repeats (64x48, 6 frames at 30 fps: 0.2 s).
CLIPS = 4
BUCKET = "labels"
#: How the S3 tensor is written: in one append, in APPENDS appends, those compacted.
ONE, GROWN, COMPACTED = "one append", "appends", "appends, compacted"


@dataclass(frozen=True)
class Sizes:
    """How much of the workload a mode does."""

    runs: int  # timed runs of each whole-tensor read (and of its peer)
    single_reads: int  # warm one-label reads
    rows: int  # rows of the row append
    row_reps: int  # timed row appends (and as many of the videos alone)
    appends: int  # appends the grown S3 tensor is written in


SIZES = {"quick": Sizes(9, 2_000, 1_000, 3, 20), "full": Sizes(31, 20_000, 10_000, 3, 50)}


def run(bench: Bench) -> LabelsResult:
    sizes = SIZES[bench.cfg.mode]
    rng = np.random.default_rng(SEED)
    labels = rng.integers(0, len(CLASSES), COUNT)
    texts = captions(COUNT, rng)
    work = Path(tempfile.mkdtemp(prefix="hubcli-labels-"))
    try:
        ds = labelled_dataset(work / "ds", labels, texts)
        np_load = _np_load(work / "labels.npy", labels)
        json_lines = _json_lines(work / "captions.jsonl", texts)
        one = _one_label(ds, sizes.single_reads)
        result = LabelsResult(
            count=COUNT,
            load_ms=_load_ms(ds),
            labels=_versus(sizes.runs, _cold(ds, lambda d: d.labels.numpy()), np_load),
            text_list=_versus(
                sizes.runs, _cold(ds, lambda d: d.caps.numpy(aslist=True)), json_lines
            ),
            text_array=_versus(sizes.runs, _cold(ds, lambda d: d.caps.numpy()), json_lines),
            one_label_us=statistics.median(one) * 1e6,
            one_label_p90_us=float(np.percentile(one, 90)) * 1e6,
            one_label_reads=len(one),
            rows=sizes.rows,
            rows_append=_rows_append(work, sizes, bench.log),
        )
        _check(ds, labels, texts)
        bench.log(f"labels: S3, {COUNT:,} labels in 1 and in {sizes.appends} appends")
        result.s3 = s3_reads(labels, sizes.appends)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _log(bench.log, result)
    return result


# --- data -----------------------------------------------------------------------------


def captions(count: int, rng: np.random.Generator) -> list[str]:
    """Captions of 3 to 19 words, one in ten ending in non-ASCII text."""
    words = ("a", "dog", "cat", "runs", "jumps", "over", "the", "red", "ball", "in", "park")
    extra = ["café", "naïve", "日本語", "Ελληνικά", "emoji 🎬"]
    out = []
    lengths = rng.integers(3, 20, count)
    picks = rng.integers(0, len(words), int(lengths.sum()))
    start = 0
    for k, n in enumerate(lengths.tolist()):
        text = " ".join(words[w] for w in picks[start : start + n].tolist())
        start += n
        out.append(f"clip {k}: {text}" + (f" {extra[k % len(extra)]}" if k % 10 == 0 else ""))
    return out


def labelled_dataset(path: Path, labels: np.ndarray, texts: list[str]) -> Path:
    """A local dataset with a ``labels`` class_label tensor and a ``caps`` text tensor,
    each written in one append."""
    ds = hubcli.empty(path, overwrite=True)
    ds.create_tensor("labels", htype="class_label", class_names=CLASSES)
    ds.create_tensor("caps", htype="text")
    ds.labels.extend(labels.tolist())
    ds.caps.extend(texts)
    return path


def make_clips(folder: Path) -> list[str]:
    """CLIPS distinct 64x48 H.264 clips of 6 frames at 30 fps, kept between runs."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(CLIPS):
        spec = VideoSpec(
            f"clip{k}", "mp4", "libx264", frames=6, width=64, height=48, rate=30,
            content="noise", seed=k,
        )  # fmt: skip
        path = folder / spec.filename
        if not path.exists():
            make_video(spec, path)
        paths.append(str(path))
    return paths


def _check(ds_path: Path, labels: np.ndarray, texts: list[str]) -> None:
    """The timed reads gave the values written (a fast wrong answer is no result)."""
    ds = hubcli.load(ds_path)
    if not np.array_equal(ds.labels.numpy(), labels) or ds.caps.numpy(aslist=True) != texts:
        raise AssertionError("hubcli read other values than those written")


# --- timing ----------------------------------------------------------------------------

#: One timed run: (wall seconds, CPU seconds of this process).
Timed = Callable[[], tuple[float, float]]


def _versus(runs: int, hub: Timed, peer: Timed) -> Versus:
    """``runs`` rounds, each a run of hubcli and one of its peer back to back (which
    goes first alternates), after one untimed run of each. The ratio is the median of
    the rounds' ratios: the two runs of a round share the machine's load, so that a
    busy moment of this shared machine (other processes) does not pass for hubcli's."""
    hub()
    peer()
    rounds = []
    for k in range(runs):
        if k % 2 == 0:
            h, p = hub(), peer()
        else:
            p, h = peer(), hub()
        rounds.append((h, p))
    return Versus(
        hubcli_ms=statistics.median(h[0] for h, _ in rounds) * 1000,
        peer_ms=statistics.median(p[0] for _, p in rounds) * 1000,
        ratio=statistics.median(h[0] / p[0] for h, p in rounds),
        cpu_ratio=statistics.median(h[1] / p[1] for h, p in rounds),
        runs=runs,
    )


def _timed(call: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu


def _cold(ds_path: Path, read: Callable[[hubcli.Dataset], object]) -> Timed:
    """A read of a freshly loaded dataset (nothing cached); the load is not timed."""

    def once() -> tuple[float, float]:
        ds = hubcli.load(ds_path, read_only=True)
        return _timed(lambda: read(ds))

    return once


def _np_load(path: Path, labels: np.ndarray) -> Timed:
    np.save(path, labels.astype(np.int64))
    return lambda: _timed(lambda: np.load(path))


def _json_lines(path: Path, texts: list[str]) -> Timed:
    with path.open("w", encoding="utf-8") as f:
        f.writelines(json.dumps(t, ensure_ascii=False) + "\n" for t in texts)

    def once() -> tuple[float, float]:
        with path.open(encoding="utf-8") as f:
            return _timed(lambda: [json.loads(line) for line in f])

    return once


def _load_ms(ds_path: Path, runs: int = 15) -> float:
    return statistics.median(_timed(lambda: hubcli.load(ds_path))[0] for _ in range(runs)) * 1000


def _one_label(ds_path: Path, reads: int) -> list[float]:
    """Seconds of ``ds.labels[i].numpy()`` for random ``i``, each timed alone, after a
    first read."""
    ds = hubcli.load(ds_path, read_only=True)
    ds.labels[0].numpy()
    times = []
    for i in random.Random(SEED).choices(range(COUNT), k=reads):
        start = time.perf_counter()
        ds.labels[i].numpy()
        times.append(time.perf_counter() - start)
    return times


# --- row append ---------------------------------------------------------------------------


def _rows_append(work: Path, sizes: Sizes, say: Callable[[str], None]) -> Versus:
    """Rows (video + label) in one ``ds.extend`` against the same videos alone, each
    into a fresh dataset; one small untimed append of each first (imports, codecs)."""
    clips = make_clips(CACHE / "labels-clips")
    paths = [clips[k % CLIPS] for k in range(sizes.rows)]
    values = [CLASSES[k % len(CLASSES)] for k in range(sizes.rows)]

    def rows(n: int = sizes.rows) -> tuple[float, float]:
        ds = hubcli.empty(work / "rows", overwrite=True)
        ds.create_tensor("videos")
        ds.create_tensor("labels", htype="class_label")
        return _timed(lambda: ds.extend({"videos": paths[:n], "labels": values[:n]}))

    def videos(n: int = sizes.rows) -> tuple[float, float]:
        ds = hubcli.empty(work / "videos", overwrite=True)
        ds.create_tensor("videos")
        return _timed(lambda: ds.videos.extend(paths[:n]))

    rows(20)
    videos(20)
    say(f"labels: {sizes.rows:,} rows against their videos alone, {sizes.row_reps} runs each")
    return _versus(sizes.row_reps, rows, videos)


# --- S3 -------------------------------------------------------------------------------------


def s3_reads(labels: np.ndarray, appends: int) -> dict[str, S3Read]:
    """All labels read after ``hubcli.load`` from S3: a tensor written in one append,
    one grown by ``appends`` appends, and that one after ``ds.compact()``. The writes go
    to the server directly, the reads through the counting proxy."""
    server = MotoS3()
    proxy = Proxy(server.url)
    direct = s3_env(server.url, "bench", "bench")
    counted = s3_env(proxy.url, "bench", "bench")
    one, grown = f"s3://{BUCKET}/one", f"s3://{BUCKET}/grown"
    try:
        with patched_env(direct):
            import s3fs

            s3fs.S3FileSystem(skip_instance_cache=True).mkdir(BUCKET)
            _write_s3(one, [labels])
            _write_s3(grown, np.array_split(labels, appends))
        with patched_env(counted):
            reads = {ONE: _read_s3(one, labels, proxy), GROWN: _read_s3(grown, labels, proxy)}
        with patched_env(direct):
            hubcli.load(grown).compact()
        with patched_env(counted):
            reads[COMPACTED] = _read_s3(grown, labels, proxy)
        return reads
    finally:
        proxy.stop()
        server.stop()


def _write_s3(url: str, parts: list[np.ndarray]) -> None:
    """A class_label tensor at ``url`` written in one append per part."""
    ds = hubcli.empty(url, overwrite=True)
    ds.create_tensor("labels", htype="class_label")
    for part in parts:
        ds.labels.extend(part.tolist())


def _read_s3(url: str, labels: np.ndarray, proxy: Proxy) -> S3Read:
    proxy.reset()
    ds = hubcli.load(url, read_only=True)
    opened = proxy.take()
    start = time.perf_counter()
    read = ds.labels.numpy()
    ms = (time.perf_counter() - start) * 1000
    taken = proxy.take()
    if not np.array_equal(read, labels):
        raise AssertionError(f"{url}: hubcli read other labels than those written")
    segments = len(list(ds.value_reader("labels").tree.segments()))
    return S3Read(segments, len(opened), len(taken), sum(e.sent for e in taken), ms)


def _log(say: Callable[[str], None], r: LabelsResult) -> None:
    for name, v in (
        ("labels.numpy() / np.load", r.labels),
        ("text aslist / JSON Lines", r.text_list),
        ("text numpy() / JSON Lines", r.text_array),
        (f"{r.rows} rows / videos alone", r.rows_append),
    ):
        say(
            f"labels {name:28} {v.hubcli_ms:9.2f} ms vs {v.peer_ms:9.2f} ms: {v.ratio:.2f}x "
            f"(CPU {v.cpu_ratio:.2f}x)"
        )
    say(f"labels one label warm: median {r.one_label_us:.1f} us, p90 {r.one_label_p90_us:.1f}")
    for name, s in r.s3.items():
        say(f"labels S3 {name:20} {s.segments} segments: {s.requests} requests after open")
