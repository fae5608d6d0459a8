"""The issues' targets as tables: each target's name, limit and direction, and the
cells it is measured on. ``targets(report)`` gives one row per target and cell, in the
report's order; a row whose value could not be measured (a peer failed) is "n/a"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from benchmarks.report_ray import ray_goals
from benchmarks.results import (
    RANDOM_ACCESS,
    WHOLE,
    LocalCell,
    LocalFile,
    LoopPeer,
    Peer,
    Probes,
    RemoteCell,
    RemoteReader,
    Setting,
    TargetRow,
    Timing,
    Workload,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from benchmarks.results import HistoryRun, LabelsResult, Report, StartupRow

Value = int | float | None


@dataclass(frozen=True)
class Target:
    name: str
    limit: float
    higher_is_better: bool = False
    unit: str = "x"

    def row(self, file: str, workload: str, value: Value) -> TargetRow:
        passed = None
        if value is not None:
            passed = value >= self.limit if self.higher_is_better else value <= self.limit
        sign = ">=" if self.higher_is_better else "<="
        return TargetRow(
            self.name, file, workload, value, f"{sign} {self.limit:g}{self.unit}", passed
        )


# --- local reads (issue #8) -----------------------------------------------------------


def _hubcli_over_tc(cell: LocalCell) -> Value:
    hub, tc = cell.median_ms(Peer.HUBCLI), cell.median_ms(Peer.TC_EXACT)
    return hub / tc if hub is not None and tc else None


def _hubcli_over_bound(cell: LocalCell) -> Value:
    timing = cell.timing(Peer.HUBCLI)
    return None if timing is None else timing.ratio_lower_bound


def _seq_over_hubcli(cell: LocalCell) -> Value:
    hub, seq = cell.median_ms(Peer.HUBCLI), cell.median_ms(Peer.PYAV_SEQ)
    return seq / hub if hub and seq else None


def _tc_over_hubcli(cell: LocalCell) -> Value:
    hub, tc = cell.median_ms(Peer.HUBCLI), cell.median_ms(Peer.TC_EXACT)
    return tc / hub if hub and tc else None


@dataclass(frozen=True)
class LocalTargets:
    """The targets measured on each cell of ``setting`` x ``workloads``; the report
    names the workload with ``prefix`` (W6 is W1-W4 at 2 threads)."""

    setting: Setting
    workloads: tuple[Workload, ...]
    prefix: str
    targets: tuple[tuple[Target, Callable[[LocalCell], Value]], ...]


LOCAL_TARGETS = (
    LocalTargets(
        Setting.T1,
        RANDOM_ACCESS,
        "",
        (
            (Target("W1-W4: time / TorchCodec exact, 1 thread", 1.0), _hubcli_over_tc),
            (Target("W1-W4: time / lower bound, 1 thread", 1.3), _hubcli_over_bound),
        ),
    ),
    LocalTargets(
        Setting.AUTO,
        WHOLE,
        "",
        ((Target("W5: throughput / PyAV threaded sequential", 0.95, True), _seq_over_hubcli),),
    ),
    LocalTargets(
        Setting.T2,
        RANDOM_ACCESS,
        "W6-",
        ((Target("W6: throughput / TorchCodec exact, 2 threads", 0.9, True), _tc_over_hubcli),),
    ),
)


def _local(local: dict[str, LocalFile]) -> Iterator[TargetRow]:
    for file, cells in local.items():
        for group in LOCAL_TARGETS:
            for workload in group.workloads:
                cell = cells.cell(group.setting, workload)
                if cell is None:
                    continue
                for target, measure in group.targets:
                    yield target.row(file, group.prefix + workload, measure(cell))


# --- W7: remote reads ------------------------------------------------------------------


def _bytes_over_bound(cell: RemoteCell, hub: RemoteReader) -> Value:
    pairs = zip(hub.reads, cell.lower_bound_bytes, strict=False)
    return max(r.video_bytes / bound for r, bound in pairs)


def _gets_beyond_runs(cell: RemoteCell, hub: RemoteReader) -> Value:
    return max(r.video_gets - runs for r, runs in zip(hub.reads, cell.runs, strict=False))


def _whole_fetched(cell: RemoteCell, hub: RemoteReader) -> Value:
    return float(any(r.whole_object for r in hub.reads) or hub.open.whole_object)


REMOTE_TARGETS: tuple[tuple[Target, Callable[[RemoteCell, RemoteReader], Value]], ...] = (
    (Target("W7: video bytes / packet lower bound", 1.05), _bytes_over_bound),
    (Target("W7: video GETs beyond one per keyframe run", 0, unit=""), _gets_beyond_runs),
    (Target("W7: whole object never fetched", 0, unit=""), _whole_fetched),
)


def _remote(report: Report) -> Iterator[TargetRow]:
    for file, remote in (report.remote or {}).items():
        for workload, cell in remote.workloads.items():
            hub = cell.peers.get(Peer.HUBCLI)
            if not isinstance(hub, RemoteReader) or not hub.reads:
                continue
            for target, measure in REMOTE_TARGETS:
                yield target.row(file, workload.value, measure(cell, hub))


# --- W8, W9 ------------------------------------------------------------------------------

PROBES_EXACT = Target("W8: share of probe frames bit-exact", 1.0, True, "")
TIMED_EXACT = Target("W8: share of timed frames bit-exact", 1.0, True, "")
RSS_GROWTH = Target("W9: RSS growth after warm-up", 0.10, unit="")


def _accuracy(report: Report) -> Iterator[TargetRow]:
    for file, peers in (report.accuracy or {}).items():
        hub = peers.get(Peer.HUBCLI)
        yield PROBES_EXACT.row(file, "W8", hub.bit_exact if isinstance(hub, Probes) else None)
    for file, cells in (report.local or {}).items():
        good, total = timed_exact(cells, Peer.HUBCLI)
        if total:
            yield TIMED_EXACT.row(file, "W0-W6", good / total)


def timed_exact(cells: LocalFile, peer: Peer) -> tuple[int, int]:
    """(frames equal to the oracle's, frames checked) of ``peer`` over every cell."""
    timings = [c.peers.get(peer) for c in cells.cells.values()]
    checked = [t for t in timings if isinstance(t, Timing)]
    return sum(t.exact_frames or 0 for t in checked), sum(t.checked_frames or 0 for t in checked)


def _loop(report: Report) -> Iterator[TargetRow]:
    """W9: issue 18's goals (a report of the first hand-written loop: its RSS growth)."""
    if report.loop is None:
        return
    goals = report.loop.goals()
    if goals:
        yield from goals
        return
    hub = report.loop.peers.get(Peer.HUBCLI)
    if isinstance(hub, LoopPeer):
        yield RSS_GROWTH.row("w9", "W9", max(hub.rss_growth))


# --- W10: commit history (issue #14) ---------------------------------------------------

HISTORY_TARGETS: tuple[tuple[Target, Callable[[HistoryRun], Value]], ...] = (
    (
        Target("W10: commit time median / at 10 commits", 1.5),
        lambda h: h.summary.commit_median_ratio,
    ),
    (Target("W10: commit time p99 / at 10 commits", 1.5), lambda h: h.summary.commit_p99_ratio),
    (Target("W10: newest state, bytes", 64 * 1024, unit=""), lambda h: h.summary.state_bytes),
    (
        Target("W10: bytes outside chunks / one bulk commit, history kept", 1.5),
        lambda h: h.summary.bytes_ratio_history,
    ),
    (
        Target("W10: objects outside chunks / one bulk commit, history kept", 1.5),
        lambda h: h.summary.objects_ratio_history,
    ),
    (
        Target("W10: bytes outside chunks / one bulk commit, after gc", 1.05),
        lambda h: h.summary.bytes_ratio_gc,
    ),
    (
        Target("W10: objects outside chunks / one bulk commit, after gc", 1.05),
        lambda h: h.summary.objects_ratio_gc,
    ),
    (Target("W10: load + shape / at 10 commits", 2.0), lambda h: h.summary.open_ratio),
)
#: Commits at n interleaved with commits to a 10-commit dataset (same moments and load).
PAIRED_TARGETS: tuple[tuple[Target, Callable[[HistoryRun], Value]], ...] = (
    (
        Target("W10: commit time median / 10-commit dataset, paired", 1.5),
        lambda h: h.summary.paired_median_ratio,
    ),
    (
        Target("W10: commit time p99 / 10-commit dataset, paired", 1.5),
        lambda h: h.summary.paired_p99_ratio,
    ),
)
#: Measured on S3 only: what a reader pays before the first frame's packets.
FIRST_FRAME_TARGETS: tuple[tuple[Target, Callable[[HistoryRun], Value]], ...] = (
    (
        Target("W10: requests before the first frame's packets", 4, unit=""),
        lambda h: h.summary.first_frame.requests if h.summary.first_frame else None,
    ),
    (
        Target("W10: bytes before the first frame's packets", 64 * 1024, unit=""),
        lambda h: h.summary.first_frame.bytes if h.summary.first_frame else None,
    ),
)


def _history(report: Report) -> Iterator[TargetRow]:
    for store, run in (report.history or {}).items():
        workload = f"W10 n={max(run.sizes)}"
        extra = FIRST_FRAME_TARGETS if run.summary.first_frame is not None else ()
        paired = PAIRED_TARGETS if run.summary.paired_median_ratio is not None else ()
        for target, measure in HISTORY_TARGETS + paired + extra:
            yield target.row(store, workload, measure(run))


# --- start-up (issue #15) --------------------------------------------------------------

STARTUP = "start-up: time / minimal Typer app"
#: The commands with a start-up target, and their limit.
STARTUP_LIMITS = {
    "hubcli --version": 1.3,
    "hubcli --help": 1.3,
    "hubcli info DS": 2.0,
    "hubcli shape DS 'videos[0]'": 2.0,
}


def _startup(startup: dict[str, StartupRow]) -> Iterator[TargetRow]:
    for command, limit in STARTUP_LIMITS.items():
        row = startup.get(command)
        value = None if row is None else row.ratio_to_minimal_app
        yield Target(STARTUP, limit).row("cli", command, value)


# --- labels (issue #17) --------------------------------------------------------------

#: Whole-tensor reads and the row append (hubcli's time over its peer's, same run), and
#: one warm label; the workload column is formatted with the result's sizes.
LABELS_VERSUS: tuple[tuple[Target, str, Callable[[LabelsResult], Value]], ...] = (
    (
        Target("labels: ds.labels.numpy() / np.load", 3.0),
        "{count:,} class labels",
        lambda r: r.labels.ratio,
    ),
    (
        Target("labels: text .numpy(aslist=True) / JSON Lines", 3.0),
        "{count:,} texts",
        lambda r: r.text_list.ratio,
    ),
    (
        Target("labels: text .numpy() / JSON Lines", 3.0),
        "{count:,} texts",
        lambda r: r.text_array.ratio,
    ),
    (
        Target("labels: one label warm, median", 50, unit=" us"),
        "ds.labels[i].numpy()",
        lambda r: r.one_label_us,
    ),
    (
        Target("labels: row append / videos alone", 1.1),
        "{rows:,} rows (video + label)",
        lambda r: r.rows_append.ratio,
    ),
)
#: On S3: requests after load that read every label, for the tensors the target covers
#: (the one grown by many appends, uncompacted, is reported beside them).
S3_REQUESTS = Target("labels: S3 requests for all labels after open", 4, unit="")
S3_TARGETED = ("one append", "appends, compacted")


def _labels(r: LabelsResult) -> Iterator[TargetRow]:
    for target, workload, measure in LABELS_VERSUS:
        yield target.row("local", workload.format(count=r.count, rows=r.rows), measure(r))
    for name in S3_TARGETED:
        read = r.s3.get(name)
        value = None if read is None else read.requests
        yield S3_REQUESTS.row("s3", f"{r.count:,} labels, {name}", value)


def targets(report: Report) -> list[TargetRow]:
    """Every target row of ``report``, in the report's order."""
    rows = [*_local(report.local or {}), *_remote(report), *_accuracy(report), *_loop(report)]
    rows += _history(report)
    if report.startup is not None:
        rows += _startup(report.startup)
    if report.labels is not None:
        rows += _labels(report.labels)
    if report.ray is not None:
        rows += ray_goals(report.ray)
    return rows
