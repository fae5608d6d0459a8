"""The report: ``docs/benchmarks.json`` (every number) and ``docs/benchmarks.md`` (the
tables), both from one ``Report``. Reading the committed JSON back and rendering it
gives the committed page (tests/test_benchmark_report.py)."""

from __future__ import annotations

import json
import statistics
from typing import TYPE_CHECKING

from benchmarks.model import to_json
from benchmarks.peers import ALL_PEERS, PEER_LABELS
from benchmarks.report_ray import ray_md
from benchmarks.results import (
    RANDOM_ACCESS,
    Failed,
    LocalCell,
    LocalFile,
    LoopPeer,
    Peer,
    Probes,
    RemoteReader,
    S3Loop,
    Setting,
    Timing,
    Workload,
)
from benchmarks.targets import timed_exact
from benchmarks.videos import VIDEOS

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from benchmarks.results import (
        AppendResult,
        ExportResult,
        HistoryRun,
        LabelsResult,
        LoopResult,
        Meta,
        RemoteCell,
        RemoteFile,
        Report,
        StartupRow,
        TargetRow,
    )

LABELS = {
    Workload.W0: "W0 open + shape",
    Workload.W1: "W1 1 random frame",
    Workload.W2: "W2 10 random frames",
    Workload.W3: "W3 [a:a+100:5]",
    Workload.W4: "W4 32 spaced frames",
    Workload.W5A: "W5 first 100 frames",
    Workload.W5B: "W5 whole video",
}
#: The sections of local reads: a thread setting, its workloads, its title.
LOCAL_SECTIONS = (
    (Setting.T1, tuple(Workload), "Local reads, 1 decoder thread each (equal settings)"),
    (Setting.T2, RANDOM_ACCESS, "W6: 2 decoder threads each"),
    (Setting.AUTO, tuple(Workload), "Each peer at its best: FFmpeg's automatic thread count (0)"),
)
#: Where the method is described, as the page's first paragraph says.
METHOD_SOURCE = "`benchmarks/__init__.py`'s docstring"


def write_report(report: Report, out: Path) -> None:
    """``OUT.json`` and ``OUT.md``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(render_json(report))
    out.with_suffix(".md").write_text(render_markdown(report))


def render_json(report: Report) -> str:
    return json.dumps(to_json(report), indent=1) + "\n"


def render_markdown(report: Report) -> str:
    md = _head(report.meta) + _targets_md(report.targets)
    local = report.local or {}
    for setting, workloads, title in LOCAL_SECTIONS:
        md += _local_md(local, setting, workloads, title)
    md += _remote_md(report.remote or {})
    md += _accuracy_md(report.accuracy or {}, local)
    md += _loop_md(report.loop)
    md += _throughput_md(report.append or {}, report.export or {})
    md += _history_md(report.history or {})
    md += _startup_md(report.startup or {})
    md += _labels_md(report.labels)
    md += ray_md(report.ray)  # W11, benchmarks/report_ray.py
    md += ["", "## Method", "", *METHOD]
    return "\n".join(md) + "\n"


def median(values: Iterable[float]) -> float | None:
    listed = list(values)
    return statistics.median(listed) if listed else None


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


# --- head, machine, videos, targets ------------------------------------------------------


def _head(meta: Meta) -> list[str]:
    m, v = meta.machine, meta.versions
    return [
        "# hubcli benchmarks",
        "",
        f"Written by `{meta.command.strip()}` ({meta.mode} mode, {meta.seconds / 60:.0f} min) "
        f"on {meta.date}. Every number is in [benchmarks.json](benchmarks.json); the "
        f"method is in {METHOD_SOURCE} and at the end of this page.",
        *(f"Sections run again later: {note}." for note in meta.merged or []),
        "",
        "## Machine and versions",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {m.cpu}, {m.cores} cores |",
        f"| RAM | {m.ram_gib} GiB |",
        f"| OS | {m.os} |",
        f"| Python | {v.python} (peers: {v.peer_python or '-'}) |",
        f"| hubcli | {v.hubcli} ({v.hubcli_commit}) |",
        f"| PyAV / its FFmpeg | {v.av} / {v.av_ffmpeg} |",
        f"| torch | {v.torch or '-'} |",
        f"| TorchCodec / its FFmpeg | {v.torchcodec or '-'} / {v.torchcodec_ffmpeg or '-'} |",
        f"| decord (decord2) | {v.decord or '-'} |",
        f"| numpy | {v.numpy} |",
        "",
        "## Videos",
        "",
        "| name | video | MB | frames | keyframes | decode ms/packet (1 thread) | RGB ms/frame |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {name} | {vid.describe} | {vid.bytes / 1e6:.1f} | {vid.frames} | "
            f"{vid.keyframes} | {vid.costs.decode_ms_per_packet:.2f} | "
            f"{vid.costs.rgb_ms_per_frame:.2f} |"
            for name, vid in meta.videos.items()
        ),
    ]


def _targets_md(rows: list[TargetRow]) -> list[str]:
    passed = sum(r.passed is True for r in rows)
    failed = sum(r.passed is False for r in rows)
    md = [
        "",
        "## Targets",
        "",
        f"{passed} pass, {failed} fail, {len(rows) - passed - failed} not measured.",
        "",
        "| target | file | workload | value | limit | result |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        value = r.value
        text = (
            "-" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))
        )
        result = {True: "pass", False: "**FAIL**", None: "n/a"}[r.passed]
        md.append(f"| {r.target} | {r.file} | {r.workload} | {text} | {r.limit} | {result} |")
    return md


# --- local reads -------------------------------------------------------------------------


def _local_md(
    local: dict[str, LocalFile], setting: Setting, workloads: tuple[Workload, ...], title: str
) -> list[str]:
    if not any(cells.cell(setting, w) for cells in local.values() for w in workloads):
        return []
    md = [
        "",
        f"## {title}",
        "",
        "Median ms per call (fewer runs in parentheses). `*`: some frames differ from a",
        "full PyAV decode (a wrong frame, or another colour conversion: decord's frames",
        "never match bit for bit; W8 tells which). The best peer is the fastest whose",
        "frames all match.",
    ]
    for file, cells in local.items():
        table = _cell_table(cells, setting, workloads)
        if table:
            md += ["", f"### {file}", "", *table]
    return md


def _cell_table(cells: LocalFile, setting: Setting, workloads: tuple[Workload, ...]) -> list[str]:
    present = [c for w in workloads if (c := cells.cell(setting, w)) is not None]
    peers = [p for p in ALL_PEERS if any(p in c.peers for c in present)]
    if not peers:
        return []
    head = ["workload", *[PEER_LABELS[p] for p in peers], "lower bound"]
    head += ["hubcli / best exact peer", "hubcli / TC exact", "hubcli / LB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for w in workloads:
        cell = cells.cell(setting, w)
        if cell is not None:
            lines.append("| " + " | ".join(_cell_row(cell, w, peers)) + " |")
    return lines


def _cell_row(cell: LocalCell, w: Workload, peers: list[Peer]) -> list[str]:
    row = [LABELS[w], *(_timing_text(cell.peers.get(p), w) for p in peers)]
    row.append(_fmt(median(cell.lower_bound_ms) if w != Workload.W0 else None))
    hub = cell.median_ms(Peer.HUBCLI)
    others = [
        m
        for p in peers
        if p != Peer.HUBCLI and _exact(cell, p) and (m := cell.median_ms(p)) is not None
    ]
    best = min(others) if others else None
    tc = cell.median_ms(Peer.TC_EXACT)
    row.append(f"{hub / best:.2f}x" if hub and best else "-")
    row.append(f"{hub / tc:.2f}x" if hub and tc else "-")
    hub_timing = cell.timing(Peer.HUBCLI)
    ratio = None if hub_timing is None else hub_timing.ratio_lower_bound
    row.append(f"{ratio:.2f}x" if ratio and w != Workload.W0 else "-")
    return row


def _timing_text(entry: Timing | Failed | None, w: Workload) -> str:
    """Median ms; fewer than 3 runs in parentheses (the whole video always has few);
    ``*`` when some frame differs from the oracle's."""
    if entry is None:
        return ""
    if isinstance(entry, Failed):
        return "error"
    runs = len(entry.times_ms)
    mark = "" if runs >= 3 or w == Workload.W5B else f" ({runs})"
    inexact = (entry.exact_frames or 0) < (entry.checked_frames or 0)
    return _fmt(entry.median_ms) + mark + (" *" if inexact else "")


def _exact(cell: LocalCell, peer: Peer) -> bool:
    """Whether every frame ``peer`` returned in this cell equals a full PyAV decode."""
    entry = cell.peers.get(peer)
    return isinstance(entry, Timing) and entry.exact


# --- W7 -----------------------------------------------------------------------------------


def _remote_md(remote: dict[str, RemoteFile]) -> list[str]:
    if not remote:
        return []
    md = [
        "",
        "## W7: remote reads (moto S3 through a counting proxy)",
        "",
        "Open: requests and MB to open the source. Per read: medians over the runs; video",
        "GETs/MB are those of the video object (hubcli: its chunk; the others: the mp4).",
        "LB = packet lower bound (bytes of the packets of the runs); runs = keyframe runs.",
        "",
        "| file | workload | reader | open req | open MB | read req | video GETs | runs | "
        "read MB | video MB | LB MB | video / LB | ms (first) | ms (median) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for file, res in remote.items():
        for w, cell in res.workloads.items():
            for peer, entry in cell.peers.items():
                md.append(_remote_row(file, w, PEER_LABELS[peer], entry, cell))
    return md


def _remote_row(
    file: str, w: Workload, label: str, entry: RemoteReader | Failed, cell: RemoteCell
) -> str:
    if isinstance(entry, Failed) or entry.error is not None or not entry.reads:
        return f"| {file} | {w} | {label} | error: {(entry.error or '')[:80]} |"
    reads = entry.reads
    lb = median(cell.lower_bound_bytes) or 0
    vb = median(r.video_bytes for r in reads) or 0
    return (
        f"| {file} | {w} | {label} | {entry.open.requests} | "
        f"{entry.open.bytes / 1e6:.2f} | "
        f"{median(r.requests for r in reads):g} | "
        f"{median(r.video_gets for r in reads):g} | {median(cell.runs):g} | "
        f"{(median(r.bytes for r in reads) or 0) / 1e6:.2f} | {vb / 1e6:.2f} | "
        f"{lb / 1e6:.2f} | {vb / lb if lb else 0:.2f}x | {reads[0].ms:.0f} | "
        f"{median(r.ms for r in reads):.0f} |"
    )


# --- W8, W9 -------------------------------------------------------------------------------


def _accuracy_md(
    acc: dict[str, dict[Peer, Probes | Failed]], local: dict[str, LocalFile]
) -> list[str]:
    if not acc and not local:
        return []
    md = [
        "",
        "## W8: accuracy against a full PyAV decode",
        "",
        "Probes: bit-exact share / right-frame share. Timed: bit-exact share of every frame",
        "returned in W1-W6 (hashes).",
        "",
        "| file | " + " | ".join(PEER_LABELS[p] for p in ALL_PEERS) + " |",
        "|---|" + "---|" * len(ALL_PEERS),
    ]
    order = [v.name for v in VIDEOS]
    for file in sorted(set(acc) | set(local), key=order.index):
        probes = [_probes_text(acc.get(file, {}).get(p)) for p in ALL_PEERS]
        cells = local.get(file, LocalFile())
        timed = [_timed_text(*timed_exact(cells, p)) for p in ALL_PEERS]
        md.append(f"| {file} (probes) | " + " | ".join(probes) + " |")
        md.append(f"| {file} (timed) | " + " | ".join(timed) + " |")
    return md


def _probes_text(entry: Probes | Failed | None) -> str:
    if entry is None:
        return ""
    if isinstance(entry, Failed):
        return "error"
    return f"{entry.bit_exact * 100:.0f} % / {entry.right_frame * 100:.0f} %"


def _timed_text(good: int, total: int) -> str:
    return f"{good / total * 100:.1f} % of {total}" if total else ""


def _loop_md(loop: LoopResult | None) -> list[str]:
    if loop is None:
        return []
    md = [
        "",
        f"## W9: training loop ({loop.videos} samples of {loop.video}, {loop.clip}-frame "
        f"clips, DataLoader with {loop.workers} spawned workers, batch {loop.batch}, 1 decoder "
        "thread each)",
    ]
    if not loop.resized and not loop.consecutive and not loop.s3:  # the hand-written loop
        return [*md, "", *_loader_table(loop.peers)]
    load = loop.load_average
    busy = (
        f" (1-minute load average {load[0]:.1f} at the start, {load[1]:.1f} at the end)"
        if load
        else ""
    )
    md += [
        "",
        f"Issue 18's goals, each against a peer of the same run{busy}:",
        "",
        *_goal_table(loop),
    ]
    md += ["", "### Full size", "", *_loader_table(loop.peers)]
    if loop.size is not None:
        size = "x".join(map(str, loop.size))
        md += ["", f"### Resized to {size}", "", *_loader_table(loop.resized)]
        md += _resize_lines(loop, size)
    if loop.s3:
        md += ["", *_s3_loop_table(loop)]
    if loop.consecutive:
        md += ["", *_consecutive_table(loop)]
    return md


def _goal_table(loop: LoopResult) -> list[str]:
    lines = ["| goal | where | value | limit | result |", "|---|---|---|---|---|"]
    for r in loop.goals():
        value = "-" if r.value is None else f"{r.value:.3f}"
        result = {True: "pass", False: "**miss**", None: "n/a"}[r.passed]
        lines.append(f"| {r.target} | {r.workload} | {value} | {r.limit} | {result} |")
    return lines


def _loader_table(peers: dict[Peer, LoopPeer | Failed]) -> list[str]:
    """clips/s after the warm-up, ratio to TorchCodec exact, RSS per worker (before the
    first read, after the warm-up, at the end), growth, frames checked."""
    tc = peers.get(Peer.TC_EXACT)
    lines = [
        "| reader | clips | clips/s | / TC exact | RSS before reading (MB) | RSS after warm-up "
        "(MB) | RSS at end (MB) | growth | worker CPU ms per clip | bit-exact frames |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for peer in ALL_PEERS:
        e = peers.get(peer)
        if isinstance(e, Failed):
            lines.append(f"| {PEER_LABELS[peer]} | error: {e.error[:80]} |")
        elif isinstance(e, LoopPeer):
            ratio = e.clips_per_s / tc.clips_per_s if isinstance(tc, LoopPeer) else None
            checked = f"{e.exact_frames} of {e.checked_frames}" if e.checked_frames else "-"
            cells = [
                PEER_LABELS[peer],
                str(e.reads),
                f"{e.clips_per_s:.1f}",
                "-" if ratio is None else f"{ratio:.2f}x",
                _mbs(e.rss_start_mb),
                _mbs(e.rss_warm_mb),
                _mbs(e.rss_end_mb),
                ", ".join(f"{g * 100:+.1f} %" for g in e.rss_growth),
                _mbs(e.cpu_ms_per_clip),
                checked,
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def _mbs(values: list[float] | None) -> str:
    return "-" if values is None else ", ".join(f"{x:.0f}" for x in values)


def _resize_lines(loop: LoopResult, size: str) -> list[str]:
    md: list[str] = []
    c = loop.resize_cost
    if c is not None:
        md += [
            "",
            f"Resize cost on the same {c.frames} decoded pictures, 1 thread, ms per picture: "
            f"hubcli's one swscale pass to RGB at {size} {c.fused_ms:.2f}; RGB at full size "
            f"{c.full_ms:.2f}, then `torch.nn.functional.interpolate` (bilinear, antialias) "
            f"{c.full_then_resize_ms:.2f}: {c.ratio:.2f}x.",
        ]
    a = loop.agreement
    if a is not None:
        md += [
            "",
            f"hubcli's `size=` frames against TorchCodec's `Resize` of the same {a.frames} "
            f"frames: {a.within_1 * 100:.2f} % of {a.values:,} values within +-1, mean "
            f"absolute difference {a.mean_abs:.3f}, largest {a.max_abs}.",
        ]
    return md


def _s3_loop_table(loop: LoopResult) -> list[str]:
    lines = [
        "### On S3 (moto through the counting proxy; TorchCodec reads the mp4 over HTTP)",
        "",
        "| reader | clips | clips/s | / TC exact | requests | MB | video MB | packet LB MB | "
        "video / LB | video KB per clip | whole object read |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    tc = loop.s3.get(Peer.TC_EXACT)
    for peer, e in loop.s3.items():
        if isinstance(e, Failed):
            lines.append(f"| {PEER_LABELS[peer]} | error: {e.error[:80]} |")
            continue
        ratio = (
            e.clips_per_s / tc.clips_per_s if isinstance(tc, S3Loop) and tc.clips_per_s else None
        )
        lb = e.video_bytes / e.lower_bound_bytes if e.lower_bound_bytes else None
        lines.append(
            f"| {PEER_LABELS[peer]} | {e.reads} | {e.clips_per_s:.1f} | "
            f"{'-' if ratio is None else f'{ratio:.2f}x'} | {e.requests:,} | {e.bytes / 1e6:.1f} | "
            f"{e.video_bytes / 1e6:.1f} | "
            f"{e.lower_bound_bytes / 1e6:.1f} | {'-' if lb is None else f'{lb:.2f}x'} | "
            f"{e.video_bytes / 1e3 / e.reads:.0f} | {'yes' if e.whole_object else 'no'} |"
        )
    return lines


def _consecutive_table(loop: LoopResult) -> list[str]:
    threads = sorted({t for c in loop.consecutive for t in c.tc_ms}, key=lambda t: (t == 0, t))
    names = [f"TC t{t}" if t else "TC auto" for t in threads]
    lines = [
        "### Consecutive reads: hubcli (its automatic threads) and TorchCodec exact",
        "",
        'Median ms over rounds of one read of each; "loader": the 2-worker hubcli loader '
        "runs meanwhile. The ratio is to TorchCodec at its best thread count; the CPU ratio",
        "compares the CPU time of the reading processes (all threads) for the same reads.",
        "",
        "| file | read | load | hubcli | " + " | ".join(names) + " | hubcli / best TC | "
        "CPU time, hubcli / that TC |",
        "|---|---|---|---|" + "---|" * len(names) + "---|---|",
    ]
    for c in loop.consecutive:
        tcs = [_fmt(median(c.tc_ms.get(t, []))) for t in threads]
        ratio, cpu = c.ratio, c.cpu_ratio
        lines.append(
            f"| {c.file} | {c.read} | {c.load} | {_fmt(median(c.hubcli_ms))} | "
            + " | ".join(tcs)
            + f" | {'-' if ratio is None else f'{ratio:.2f}x'}"
            + f" | {'-' if cpu is None else f'{cpu:.2f}x'} |"
        )
    return lines


# --- append and export ---------------------------------------------------------------------


def _throughput_md(append: dict[str, AppendResult], export: dict[str, ExportResult]) -> list[str]:
    md: list[str] = []
    if append:
        md += [
            "",
            "## Append (local dataset) vs copying the file plus one PyAV demux pass",
            "",
            "| file | MB | hubcli MB/s | copy + demux MB/s | time ratio |",
            "|---|---|---|---|---|",
        ]
        md += [
            f"| {f} | {a.bytes / 1e6:.1f} | {a.hubcli_mb_s:.0f} | {a.baseline_mb_s:.0f} "
            f"| {a.ratio:.2f}x |"
            for f, a in append.items()
        ]
    if export:
        md += [
            "",
            "## Export (`export_sample` to .npy) vs a PyAV decode of the same frames",
            "",
            "| file | frames | hubcli frames/s | hubcli MB/s written | PyAV decode frames/s | "
            "throughput ratio |",
            "|---|---|---|---|---|---|",
        ]
        md += [
            f"| {f} | {e.frames} | {e.hubcli_fps:.0f} | {e.hubcli_mb_s:.0f} | "
            f"{e.pyav_decode_fps:.0f} | {e.ratio:.2f}x |"
            for f, e in export.items()
        ]
    return md


# --- W10 and start-up (sections the first reports did not have) ----------------------------


def _history_md(history: dict[str, HistoryRun]) -> list[str]:
    if not history:
        return []
    md = [
        "",
        "## W10: a dataset grown by one-sample commits",
        "",
        "Commit time over the commits just before n (below 400 commits: the last half of",
        "the commits of fresh datasets grown to n); the newest state (the hint, what a",
        "commit reads and writes); bytes and objects outside chunks with every version",
        "kept, against the same samples appended in one commit; `hubcli.load()` + `shape`",
        "of the last sample; on S3, requests and bytes before the first frame's packets.",
    ]
    for store, run in history.items():
        md += ["", f"### {store}", "", *_history_table(run)]
        md += ["", *_history_summary(run)]
    return md


def _history_table(run: HistoryRun) -> list[str]:
    lines = [
        "| commits | commit ms (median) | commit ms (p99) | state bytes | bytes outside "
        "chunks | objects | bulk bytes | bulk objects | load + shape ms | first frame req / "
        "bytes |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, cell in run.sizes.items():
        bulk = run.baseline.get(n)
        first = cell.first_frame
        lines.append(
            f"| {n:,} | {cell.commit_median_ms:.1f} | {cell.commit_p99_ms:.1f} | "
            f"{cell.state_bytes:,} | {cell.metadata[0]:,} | {cell.metadata[1]:,} | "
            f"{f'{bulk.history[0]:,}' if bulk else '-'} | "
            f"{f'{bulk.history[1]:,}' if bulk else '-'} | {cell.open_shape_ms:.1f} | "
            f"{f'{first.requests} / {first.bytes:,}' if first else '-'} |"
        )
    return lines


def _history_summary(run: HistoryRun) -> list[str]:
    s, top = run.summary, max(run.sizes)
    bulk = run.gc_baseline or run.baseline[top]
    samples = f", for the same {run.gc_samples:,} samples" if run.gc_samples else ""
    lines = [
        f"At {top:,} commits: commit time {s.commit_median_ratio:.2f}x (median) and "
        f"{s.commit_p99_ratio:.2f}x (p99) the time at {min(run.sizes):,}; bytes outside "
        f"chunks {s.bytes_ratio_history:.2f}x and objects {s.objects_ratio_history:.2f}x one "
        f"bulk commit's; after `gc --keep-versions 1` {run.after_gc[0]:,} bytes in "
        f"{run.after_gc[1]:,} objects ({s.bytes_ratio_gc:.2f}x and {s.objects_ratio_gc:.2f}x "
        f"the bulk commit's {bulk.gc[0]:,} and {bulk.gc[1]:,}{samples}); load + shape "
        f"{s.open_ratio:.2f}x.",
    ]
    paired = run.sizes[top].paired
    if paired is not None and s.paired_median_ratio is not None:
        lines += [
            "",
            f"Paired at {top:,} ({paired.commits} commits interleaved with commits to a 10-commit "
            f"dataset, same moments and load): median {paired.median_ms:.1f} ms against "
            f"{paired.reference_median_ms:.1f} ms ({s.paired_median_ratio:.2f}x), p99 "
            f"{paired.p99_ms:.1f} ms against {paired.reference_p99_ms:.1f} ms "
            f"({s.paired_p99_ratio:.2f}x).",
        ]
    return lines


def _startup_md(startup: dict[str, StartupRow]) -> list[str]:
    if not startup:
        return []
    return [
        "",
        "## Start-up: each command in a fresh process, against a minimal Typer app",
        "",
        "Median over rounds that run every command once, interleaved (a busy moment hits",
        "them all); the ratio is to the minimal app's `one x` (two commands, `typer` only).",
        "",
        "| command | median ms | / minimal app |",
        "|---|---|---|",
        *(
            f"| `{name}` | {row.median_ms:.0f} | {row.ratio_to_minimal_app:.2f}x |"
            for name, row in startup.items()
        ),
    ]


def _labels_md(r: LabelsResult | None) -> list[str]:
    if r is None:
        return []
    md = [
        "",
        "## Label tensors (issue #17)",
        "",
        "Median ms; each hubcli read on a freshly loaded local dataset (value cache cold; "
        f"`hubcli.load` itself took {r.load_ms:.1f} ms and is not included). Runs go in "
        "rounds, one of hubcli and one of its peer back to back; the ratios are the "
        "medians of the rounds' ratios (wall time, and the process's CPU time).",
        "",
        "| what | hubcli ms | peer | peer ms | ratio | CPU ratio | runs |",
        "|---|---|---|---|---|---|---|",
    ]
    for what, peer, v in (
        (f"`ds.labels.numpy()`, {r.count:,} class labels", "`np.load` of the .npy", r.labels),
        (f"`ds.caps.numpy(aslist=True)`, {r.count:,} texts", "JSON Lines, stdlib", r.text_list),
        (f"`ds.caps.numpy()`, {r.count:,} texts", "JSON Lines, stdlib", r.text_array),
        (f"`ds.extend(...)`, {r.rows:,} rows (video + label)", "the videos alone", r.rows_append),
    ):
        md.append(
            f"| {what} | {_fmt(v.hubcli_ms, 2)} | {peer} | {_fmt(v.peer_ms, 2)} | "
            f"{v.ratio:.2f}x | {v.cpu_ratio:.2f}x | {v.runs} |"
        )
    md += [
        "",
        f"One label warm, `ds.labels[i].numpy()` for {r.one_label_reads:,} random i: median "
        f"{r.one_label_us:.1f} us, p90 {r.one_label_p90_us:.1f} us.",
    ]
    if r.s3:
        md += [
            "",
            f"On S3 (moto through the counting proxy), all {r.count:,} labels after `hubcli.load`:",
            "",
            "| tensor written in | segments | requests at load | requests for the labels | "
            "bytes | ms |",
            "|---|---|---|---|---|---|",
            *(
                f"| {name} | {s.segments} | {s.open_requests} | {s.requests} | {s.bytes:,} | "
                f"{s.ms:.0f} |"
                for name, s in r.s3.items()
            ),
        ]
    return md


METHOD = [
    "- Videos are synthetic (moving gradients, a scrolling noise texture, per-frame grain,",
    "  moving boxes), encoded once with PyAV and cached in `bench-cache/` under their",
    "  parameters. The 720p and 360p clips are 60 s; 1080p is 30 s and HEVC/VP9 20 s to",
    "  keep a full run short.",
    "- Every reader gets the same calls (fixed seeds), on the same files, in the same run;",
    "  the peers of one cell run back to back. One untimed warm-up call, then each run",
    "  timed with `time.perf_counter`; the source stays open across runs (W0 times the",
    "  opening). A cell stops after its time budget once 3 runs are done (1 for PyAV",
    "  sequential in W1-W4 and for the whole video).",
    "- hubcli reads a local dataset holding the file; the others read the file itself.",
    "  hubcli's thread count is set through `hubcli.video.decode` (checked on a decoder it",
    "  opens).",
    "- PyAV seek = Hub's reader: `container.seek(pts, backward=True, stream=s)`, pts from",
    "  the frame number and the average rate, then decode to the frame; a slice seeks once.",
    "  PyAV seq decodes from the start of the file to the last wanted frame.",
    "- Lower bound = packets from each needed keyframe to the last wanted frame (hubcli's",
    "  run plan, overlaps merged) x single-thread decode ms per packet (all packets of the",
    "  file, decode only) + wanted frames x RGB ms per frame (both measured with PyAV;",
    "  the RGB cost with one swscale context kept across pictures, 1 thread).",
    "- W7: moto S3 behind a streaming proxy that counts response body bytes and requests.",
    "  hubcli reads `s3://` datasets; TorchCodec and PyAV read the mp4 over HTTP (FFmpeg's",
    "  http protocol; a client that hangs up is charged for what was sent). Open = opening",
    "  the source (hubcli: load + shape); each read is timed and counted alone.",
    "- W8: each probe frame (random frames, first/last, and frames around keyframes) is",
    "  read in its own call (PyAV seq: one call) and compared with a full PyAV decode:",
    "  bit-exact = same RGB bytes; right frame = mean absolute difference < 2.0 and",
    "  smaller than to the oracle's frames k-1 and k+1 (TorchCodec and decord use other",
    "  FFmpeg builds and colour conversion code, so they are rarely bit-exact).",
    "- W9: a torch DataLoader (2 spawned workers, batch 8, shuffled) over a map-style",
    "  dataset: hubcli's `ClipDataset` (random clips, `clips_per_video` so that one epoch",
    "  holds the clips read), TorchCodec's exact-mode `VideoDecoder` with",
    "  `clips_at_random_indices` (and its `Resize` transform), decord2's `get_batch`;",
    "  1 decoder thread per worker; each worker keeps one decoder per video. clips/s",
    "  counts the batches after the warm-up (10 %, and hubcli's hashed batches); RSS per",
    '  worker is read with each batch ("before reading": torch and the library',
    "  imported); growth = largest RSS after the warm-up / RSS then - 1. Consecutive",
    "  reads alternate the readers round by round; the whole video is left out on the",
    "  60 s 720p file (5 GB of RGB per read).",
]
