"""W10: a dataset grown by one-sample commits (issue #14), locally and on S3 (moto behind a
counting proxy). Writes a JSON of the figures; ``scripts/bench.py`` folds them into
docs/benchmarks.md.

For n in 10, 100, 1,000, 10,000, 100,000 commits it measures, against the same dataset
at n = 10 and against the same samples appended in one commit:

- commit time, median and p99, over the commits just before n;
- the newest state's size (the hint: what a commit reads and writes);
- bytes and objects outside chunks, with every version kept, and after
  ``gc --keep-versions 1``;
- ``hubcli.load()`` + ``shape`` of the last sample;
- on S3: requests and bytes before the first frame's packets (load, shape, first frame).

Run: ``.venv/bin/python scripts/bench_history.py --out w10.json [--max 100000] [--s3-max N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import hubcli  # noqa: E402
from servers import MotoS3, Proxy  # noqa: E402

SIZES = (10, 100, 1_000, 10_000, 100_000)
CLIPS = 20


def make_clips(folder: Path) -> list[str]:
    """Twenty distinct one-frame 64x48 H.264 clips (a few hundred bytes each)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(CLIPS):
        path = folder / f"clip{k:02d}.mp4"
        if not path.exists():
            with av.open(str(path), "w") as out:
                stream = out.add_stream("libx264", rate=24)
                stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
                rng = np.random.default_rng(k)
                img = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
                frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
                frame.pts, frame.time_base = 0, Fraction(1, 24)
                out.mux(stream.encode(frame))
                out.mux(stream.encode(None))
        paths.append(str(path))
    return paths


def metadata(store: Any) -> tuple[int, int]:
    """(bytes, objects) outside chunks."""
    infos = [
        i
        for prefix in ("versions/", "log/", "checkpoints/", "tensors/")
        for i in store.list_info(prefix)
        if "/chunks/" not in i.key
    ]
    return sum(i.size for i in infos), len(infos)


def hint_size(store: Any) -> int:
    return store.size("log/hint.json")


def time_open(url: str, runs: int = 15) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        ds = hubcli.load(url)
        ds.videos[-1].shape  # noqa: B018 - the measured call
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def bulk(url: str, clips: list[str], n: int) -> dict[str, Any]:
    """The same n samples appended in one commit, before and after gc keep 1."""
    ds = hubcli.empty(url, overwrite=True)
    ds.create_tensor("videos")
    ds.videos.extend([clips[i % CLIPS] for i in range(n)])
    kept = metadata(ds.store)
    ds.gc(keep_versions=1, safety_window=0)
    return {"history": kept, "gc": metadata(ds.store)}


#: Commit times at size n are those of the WINDOW commits ending at the n-th; below
#: that size, of the last half of the commits of several datasets grown to n (a
#: dataset's first commits also create its folders: they are not "a commit at n").
WINDOW = 200


def commit_times(url: str, clips: list[str], n: int) -> list[float]:
    """Times of the last half of the commits of fresh datasets grown to n, enough of
    them for WINDOW times."""
    times: list[float] = []
    rep = 0
    while len(times) < WINDOW:
        ds = hubcli.empty(f"{url}-rep{rep}", overwrite=True)
        ds.create_tensor("videos")
        for i in range(n):
            start = time.perf_counter()
            ds.videos.append(clips[i % CLIPS])
            if i >= n // 2:
                times.append(time.perf_counter() - start)
        rep += 1
    return times


def grow(url: str, clips: list[str], sizes: list[int], proxy: Proxy | None) -> dict[str, Any]:
    ds = hubcli.empty(url, overwrite=True)
    ds.create_tensor("videos")
    results: dict[str, Any] = {}
    times: list[float] = []
    for n in range(1, max(sizes) + 1):
        start = time.perf_counter()
        ds.videos.append(clips[(n - 1) % CLIPS])
        times.append(time.perf_counter() - start)
        if n in sizes:
            window = times[-WINDOW:] if n >= 2 * WINDOW else commit_times(url, clips, n)
            cell = {
                "commit_median_ms": statistics.median(window) * 1000,
                "commit_p99_ms": float(np.percentile(window, 99)) * 1000,
                "state_bytes": hint_size(ds.store),
                "metadata": metadata(ds.store),
                "open_shape_ms": time_open(url),
            }
            if proxy is not None:
                cell["first_frame"] = first_frame_traffic(url, proxy)
            results[str(n)] = cell
            print(f"{url} n={n}: {json.dumps(cell)}", flush=True)
    return results


def first_frame_traffic(url: str, proxy: Proxy) -> dict[str, int]:
    """Requests and bytes before the first frame's packets: open, shape of the last
    sample, and reading its first frame (everything but the chunk read), counted by a
    proxy that this one load goes through (the commits go to the server directly)."""
    direct = os.environ["AWS_ENDPOINT_URL"]
    os.environ["AWS_ENDPOINT_URL"] = proxy.url
    try:
        proxy.reset()
        ds = hubcli.load(url)
        ds.videos[-1].shape  # noqa: B018
        ds.videos[-1, 0].numpy()
    finally:
        os.environ["AWS_ENDPOINT_URL"] = direct
    before = [e for e in proxy.log if "/chunks/" not in e.path]
    return {"requests": len(before), "bytes": sum(e.sent for e in before)}


def run(url_of: Any, clips: list[str], sizes: list[int], proxy: Proxy | None) -> dict[str, Any]:
    grown = grow(url_of("grown"), clips, sizes, proxy)
    ds = hubcli.load(url_of("grown"))
    ds.gc(keep_versions=1, safety_window=0)
    after_gc = metadata(ds.store)
    baseline = {str(n): bulk(url_of(f"bulk{n}"), clips, n) for n in sizes}
    top = str(max(sizes))
    first = str(min(sizes))
    summary = {
        "commit_median_ratio": grown[top]["commit_median_ms"] / grown[first]["commit_median_ms"],
        "commit_p99_ratio": grown[top]["commit_p99_ms"] / grown[first]["commit_p99_ms"],
        "state_bytes": grown[top]["state_bytes"],
        "bytes_ratio_history": grown[top]["metadata"][0] / baseline[top]["history"][0],
        "objects_ratio_history": grown[top]["metadata"][1] / baseline[top]["history"][1],
        "bytes_ratio_gc": after_gc[0] / baseline[top]["gc"][0],
        "objects_ratio_gc": after_gc[1] / baseline[top]["gc"][1],
        "open_ratio": grown[top]["open_shape_ms"] / grown[first]["open_shape_ms"],
    }
    if proxy is not None:
        summary["first_frame"] = grown[top]["first_frame"]
    return {"sizes": grown, "baseline": baseline, "after_gc": after_gc, "summary": summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench-cache" / "w10.json")
    parser.add_argument("--max", type=int, default=100_000, help="largest n, local")
    parser.add_argument("--s3-max", type=int, default=100_000, help="largest n on S3 (0: skip)")
    args = parser.parse_args()
    clips = make_clips(ROOT / "bench-cache" / "w10-clips")
    work = Path(tempfile.mkdtemp(prefix="hubcli-w10-"))
    report: dict[str, Any] = {}
    try:
        sizes = [n for n in SIZES if n <= args.max]
        report["local"] = run(lambda name: str(work / name), clips, sizes, None)
        if args.s3_max:
            report["s3"] = run_s3(clips, [n for n in SIZES if n <= args.s3_max])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v["summary"] for k, v in report.items()}, indent=1))


def run_s3(clips: list[str], sizes: list[int]) -> dict[str, Any]:
    server = MotoS3()
    proxy = Proxy(server.url)
    saved = {
        k: os.environ.get(k)
        for k in (
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_DEFAULT_REGION",
            "AWS_ENDPOINT_URL",
        )
    }
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=server.url,
    )
    try:
        import s3fs

        s3fs.S3FileSystem(skip_instance_cache=True).mkdir("w10")
        return run(lambda name: f"s3://w10/{name}", clips, sizes, proxy)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        proxy.stop()
        server.stop()


if __name__ == "__main__":
    main()
