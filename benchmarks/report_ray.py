"""W11's goals (issue 19) and its section of ``docs/benchmarks.md``, from ``Report.ray``
alone (``report.render_markdown`` adds the section)."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

from benchmarks.results import TargetRow
from benchmarks.results_ray import (
    BASELINE,
    HUBCLI,
    JOBS_2,
    LOCAL,
    LOOP_1,
    LOOP_2,
    S3,
    SINK,
    SINK_FREE,
    baseline,
)

if TYPE_CHECKING:
    from benchmarks.results_ray import RayIngest, RayRead, RayResult


def _row(name: str, where: str, value: float | None, limit: float, higher: bool) -> TargetRow:
    passed = None if value is None else (value >= limit if higher else value <= limit)
    sign = ">=" if higher else "<="
    unit = "" if "share" in name else "x"
    return TargetRow(name, "w11", where, value, f"{sign} {limit:g}{unit}", passed)


def ray_goals(r: RayResult) -> list[TargetRow]:
    """Issue 19's goals, each a ratio to a peer (or a lower bound) of the same run; the
    S3 rows hold the local goals' limits."""
    rows = []
    for store in (LOCAL, S3):
        hub = r.read(store, HUBCLI)
        rows += [
            _row(
                "W11: wall time, read_videos + filter / read_frames",
                store,
                r.speedup(store),
                5,
                True,
            ),
            _row(
                "W11: video bytes read / packet lower bound",
                store,
                None if hub is None else hub.video_bytes / r.lower_bound_bytes,
                1.05,
                False,
            ),
            _row(
                "W11: packets decoded / decode lower bound",
                store,
                None if hub is None else hub.decoded / r.lower_bound_packets,
                1.1,
                False,
            ),
            _row(
                "W11: frames bit-exact to a PyAV decode (share)",
                store,
                None if hub is None or hub.rows != r.wanted else hub.exact / r.wanted,
                1.0,
                True,
            ),
        ]
    ingest = r.ingest
    for name in (JOBS_2, SINK, SINK_FREE):
        if ingest is not None and name not in ingest.seconds:
            continue  # a report from before this way was measured
        value = None if ingest is None else ingest.ratio(name)
        rows.append(_row(f"W11: ingest throughput, {name} / --jobs 1", "local", value, 1.7, True))
    return rows


def ray_md(r: RayResult | None) -> list[str]:
    if r is None:
        return []
    load = ", ".join(f"{x:.1f}" for x in r.load_average)
    md = [
        "",
        "## W11: Ray Data and parallel ingest (issue 19)",
        "",
        f"Local Ray, {r.cpus} CPUs, one `ray.init` for the workload. Reads: every "
        f"{r.stride}th frame ({r.wanted:,} of {r.frames:,}) of {r.videos} videos ({r.describe}, "
        f"{r.file_bytes / 1e6:.0f} MB in all), consumed by the driver, which hashes every "
        "frame (both readers; the time includes it). Packet lower bound: the bytes of the "
        "packets from each wanted frame's keyframe to it, merged per run "
        f"({r.lower_bound_bytes / 1e6:.1f} MB); decode lower bound: those packets "
        f"({r.lower_bound_packets:,}). 1-minute load average of this 2-core machine "
        f"(other work runs on it) at the start and the end: {load}.",
        "",
        "| goal | where | value | limit | result |",
        "|---|---|---|---|---|",
    ]
    for g in ray_goals(r):
        value = "-" if g.value is None else f"{g.value:.3f}"
        result = {True: "pass", False: "**miss**", None: "n/a"}[g.passed]
        md.append(f"| {g.target} | {g.workload} | {value} | {g.limit} | {result} |")
    md += [
        "",
        "### Frames",
        "",
        "Video MB: hubcli's chunks, counted by the store in each Ray worker (S3: by the "
        "counting proxy); read_videos' files (locally their sizes: it reads each whole; "
        "on S3 counted). Decoded: packets hubcli's tasks gave a decoder (counted in each "
        "worker); read_videos decodes every frame (a row each, before the filter).",
        "",
        "| store | reader | s | CPU s | rows | bit-exact | video MB | / packet LB | decoded | "
        "/ decode LB | requests | MB received | driver hashing s | read tasks (s) | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for store, reads in r.reads.items():
        md += [_read_row(store, name, read, r) for name, read in reads.items()]
    cpu = [f"{store} {ratio:.2f}x" for store in r.reads if (ratio := r.cpu_ratio(store))]
    if cpu:
        md += [
            "",
            "CPU s: the driver's and every Ray process's CPU time over the read (/proc; on S3 "
            "the moto server and the proxy too). read_videos + filter over read_frames in CPU "
            f"time, what the wall time ratio would be on an idle machine: {', '.join(cpu)}.",
        ]
    if r.ingest is not None:
        md += ["", *_ingest_md(r.ingest)]
    md += [f"- {note}" for note in r.notes]
    return md


def _read_row(store: str, name: str, e: RayRead, r: RayResult) -> str:
    if e.error is not None:
        return f"| {store} | `{name}` | error: {e.error[:80]} |"
    measured = "" if e.bytes_counted else " (size)"
    requests = "-" if e.requests is None else f"{e.requests:,}"
    received = "-" if e.bytes is None else f"{e.bytes / 1e6:.1f}"
    load = "-" if e.load_average is None else f"{e.load_average:.1f}"
    cpu = "-" if e.cpu_seconds is None else f"{e.cpu_seconds:.1f}"
    tasks = "-" if e.tasks is None else f"{e.tasks} ({e.task_seconds or 0:.1f})"
    return (
        f"| {store} | `{name}` | {e.seconds:.1f} | {cpu} | {e.rows:,} | {e.exact:,} | "
        f"{e.video_bytes / 1e6:.1f}{measured} | {e.video_bytes / r.lower_bound_bytes:.2f}x | "
        f"{e.decoded:,} | {e.decoded / r.lower_bound_packets:.2f}x | {requests} | {received} | "
        f"{e.hash_seconds:.1f} | {tasks} | {load} |"
    )


def _ingest_md(i: RayIngest) -> list[str]:
    loads = ", ".join(f"{x:.1f}" for x in i.load_average)
    md = [
        "### Ingest",
        "",
        f"{i.videos} small videos ({i.describe}; {i.bytes / 1e6:.1f} MB in all) appended to "
        "a fresh local dataset, in rounds of one run of each way (the order rotating); the "
        "command line in a fresh process, start-up included (hubcli's modules "
        "byte-compiled beforehand, as pip installs them). The ratio is the median of "
        "the rounds' throughput ratios to the way it names. Load average after each round: "
        f"{loads}.",
        "",
        "| way | s per run | videos/s (median) | MB/s | throughput ratio |",
        "|---|---|---|---|---|",
    ]
    for name, runs in i.seconds.items():
        if runs:
            md.append(_ingest_row(i, name, runs))
    context = [name for name in i.compared() if name in BASELINE and i.seconds[name]]
    if context:
        md += [
            "",
            "What two processes get on this machine, in the same rounds (context for the "
            "goals, not goals): "
            + "; ".join(f"{name} / {baseline(name)}: {i.ratio(name) or 0:.2f}x" for name in context)
            + ". A warm process times only the append (its imports done before the clock); "
            "the loop's share of each process is timed from the start of its loop.",
        ]
    return md


def _ingest_row(i: RayIngest, name: str, runs: list[float]) -> str:
    mid = statistics.median(runs)
    loop = name in (LOOP_1, LOOP_2)
    rate = "-" if loop else f"{i.videos / mid:.1f}"
    mb = "-" if loop else f"{i.bytes / 1e6 / mid:.1f}"
    base = baseline(name)
    if name == base or name in BASELINE.values():
        ratio = "1.00x"
    else:
        value = i.ratio(name)
        ratio = "-" if value is None else f"{value:.2f}x of `{base}`"
    return f"| `{name}` | {', '.join(f'{s:.1f}' for s in runs)} | {rate} | {mb} | {ratio} |"
