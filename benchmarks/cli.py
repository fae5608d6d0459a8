"""``python -m benchmarks``: parse the flags, run the selected workloads, write the report."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import benchmarks
from benchmarks import environment
from benchmarks.config import EVERY, LOCAL, NEEDS_VIDEOS, PEER_PYTHON, Config, parse_workloads
from benchmarks.log import Log
from benchmarks.model import from_json
from benchmarks.peers_venv import MALLOC_TUNABLES
from benchmarks.prepare import Bench, prepare
from benchmarks.report import write_report
from benchmarks.results import HistoryRun, LoadAverage, Meta, Report, VideoMeta
from benchmarks.runner import Runner
from benchmarks.targets import targets
from benchmarks.videos import CACHE, LOOP_VIDEO, ROOT, VIDEOS
from benchmarks.workloads import (
    accuracy,
    history,
    labels,
    local,
    loop,
    ray_scale,
    remote,
    startup,
    throughput,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from benchmarks.prepare import Prepared


@dataclass(frozen=True)
class Stage:
    """Workloads run together, selected by any of ``names``; ``run`` puts its results
    in the report. In the report's (and the run's) order."""

    names: frozenset[str]
    run: Callable[[Bench, Report], None]


def _run_local(bench: Bench, report: Report) -> None:
    report.local = local.run(bench)


def _run_accuracy(bench: Bench, report: Report) -> None:
    report.accuracy = accuracy.run(bench)


def _run_remote(bench: Bench, report: Report) -> None:
    report.remote = remote.run(bench)


def _run_loop(bench: Bench, report: Report) -> None:
    report.loop = loop.run(bench, LOOP_VIDEO)


def _run_append(bench: Bench, report: Report) -> None:
    report.append = throughput.run_append(bench)


def _run_export(bench: Bench, report: Report) -> None:
    report.export = throughput.run_export(bench)


def _run_history(bench: Bench, report: Report) -> None:
    if bench.cfg.history_json is not None:  # figures of an earlier (hours long) W10 run
        data = json.loads(bench.cfg.history_json.read_text())
        report.history = from_json(dict[str, HistoryRun], data, str(bench.cfg.history_json))
        return
    m = bench.cfg.settings
    report.history = history.measure(m.history_max, m.history_s3_max, bench.log)


def _run_startup(bench: Bench, report: Report) -> None:
    report.startup = startup.measure(bench.cfg.settings.startup_rounds, bench.log)


def _run_labels(bench: Bench, report: Report) -> None:
    report.labels = labels.run(bench)


def _run_ray(bench: Bench, report: Report) -> None:
    rounds = bench.cfg.ingest_rounds
    if rounds is None:
        report.ray = ray_scale.run(bench)
        return
    old = saved_report(bench.cfg.out).ray
    if old is None:
        raise SystemExit("--ingest-only keeps the report's W11 reads, and it has none")
    old.ingest = ray_scale.ingest_only(bench, rounds)
    report.ray = old


STAGES = (
    Stage(LOCAL, _run_local),
    Stage(frozenset({"W8"}), _run_accuracy),
    Stage(frozenset({"W7"}), _run_remote),
    Stage(frozenset({"W9"}), _run_loop),
    Stage(frozenset({"append"}), _run_append),
    Stage(frozenset({"export"}), _run_export),
    Stage(frozenset({"W10"}), _run_history),
    Stage(frozenset({"startup"}), _run_startup),
    Stage(frozenset({"labels"}), _run_labels),
    Stage(frozenset({"W11"}), _run_ray),
)


def parse_args(argv: list[str]) -> Config:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=(benchmarks.__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="few runs, 320 W9 clips")
    parser.add_argument(
        "--w9-clips",
        type=int,
        help="clips per W9 DataLoader run (default 10,000; --quick 320); the S3 runs read "
        "a tenth, decord a 25th (at least 80 each)",
    )
    parser.add_argument("--files", default="", help="comma-separated video names (default all)")
    parser.add_argument(
        "--workloads",
        default="",
        help=f"comma-separated subset of {','.join(sorted(EVERY))} (default all)",
    )
    parser.add_argument("--no-peers", action="store_true", help="skip TorchCodec and decord")
    parser.add_argument("--output", default="docs/benchmarks", help="writes OUTPUT.md/.json")
    parser.add_argument(
        "--history-json",
        type=Path,
        help="W10's figures from a scripts/bench_history.py run, instead of running W10",
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the report at OUTPUT and replace only the sections of the workloads run",
    )
    parser.add_argument(
        "--ingest-only",
        type=int,
        metavar="ROUNDS",
        help="W11: run only its ingest, ROUNDS rounds, keeping the report's W11 reads (--merge)",
    )
    args = parser.parse_args(argv)
    if args.ingest_only is not None and not (args.merge and args.ingest_only > 0):
        parser.error("--ingest-only takes a positive number of rounds and --merge")
    try:
        workloads = parse_workloads(args.workloads)
    except ValueError as exc:
        parser.error(str(exc))
    if args.w9_clips is not None and args.w9_clips < 16:
        parser.error("--w9-clips must be at least 16 (two batches of 8)")
    names = [v.name for v in VIDEOS]
    files = tuple(args.files.split(",")) if args.files else tuple(names)
    if set(files) - set(names):
        parser.error(f"unknown files {sorted(set(files) - set(names))}; known: {names}")
    return Config(
        mode="quick" if args.quick else "full",
        files=files,
        workloads=workloads,
        out=ROOT / args.output,
        no_peers=args.no_peers,
        argv=tuple(argv),
        history_json=args.history_json,
        merge=args.merge,
        w9_clips_override=args.w9_clips,
        ingest_rounds=args.ingest_only,
    )


def keep_freed_memory() -> None:
    """In this kind of VM, memory the process frees goes back to the host within seconds
    and its next first touch costs ~10x a page fault, at random: a whole video (5 GB)
    then takes 5-12 s longer for one reader than for the next. So the timed processes
    keep what they free (glibc tunables, set before Python starts: re-exec), and each
    reader faults in the memory of its largest output before its timed runs (and gives
    it back after a large one)."""
    if MALLOC_TUNABLES in os.environ.get("GLIBC_TUNABLES", ""):
        return
    env = {**os.environ, "GLIBC_TUNABLES": MALLOC_TUNABLES}
    # As a module again, from wherever it was started: the repository root on the path.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    os.execve(sys.executable, [sys.executable, "-m", "benchmarks", *sys.argv[1:]], env)


def main() -> None:
    keep_freed_memory()
    cfg = parse_args(sys.argv[1:])
    CACHE.mkdir(parents=True, exist_ok=True)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    with Log(CACHE / "last-run.log") as log:
        if not cfg.no_peers and not cfg.use_venv:
            log(f"{PEER_PYTHON} is missing: TorchCodec and decord are skipped")
            log("(scripts/bench.sh makes it)")
        report = run(cfg, log)
        if cfg.merge:
            report = merged(cfg.out, report, keep_notes=cfg.ingest_rounds is not None)
        write_report(report, cfg.out)
        log(f"wrote {cfg.out}.md and {cfg.out}.json in {report.meta.seconds} s")


def run(cfg: Config, log: Log) -> Report:
    """Every selected workload, then the report's meta and targets."""
    started = time.perf_counter()
    runner = Runner(cfg.use_venv)
    try:
        report = Report(_start_meta(cfg, runner))
        prepared = _prepare(cfg, log)
        bench = Bench(cfg, runner, log, prepared)
        for stage in STAGES:
            if cfg.workloads & stage.names:
                stage.run(bench, report)
    finally:
        runner.close()
    _finish_meta(report.meta, prepared, started)
    report.targets = targets(report)
    return report


def saved_report(out: Path) -> Report:
    """The report written at ``out`` (its JSON)."""
    return from_json(Report, json.loads(out.with_suffix(".json").read_text()))


def merged(out: Path, new: Report, *, keep_notes: bool = False) -> Report:
    """The report at ``out`` with the sections ``new`` has replaced by ``new``'s, and
    its targets computed again; the head says which sections came from which run.
    ``keep_notes``: ``new`` replaced part of a section (W11's ingest alone), so the
    note of the run the rest comes from stays."""
    old = saved_report(out)
    replaced = [
        f.name
        for f in dataclasses.fields(Report)
        if f.name not in ("meta", "targets") and getattr(new, f.name) is not None
    ]
    for name in replaced:
        setattr(old, name, getattr(new, name))
    note = f"{', '.join(replaced)}: `{new.meta.command.strip()}` on {new.meta.date}"
    # An earlier note whose sections this run replaced again no longer says anything.
    kept = [
        n
        for n in old.meta.merged or []
        if keep_notes or not set(n.split(":")[0].split(", ")) <= set(replaced)
    ]
    old.meta.merged = [*kept, note]
    old.targets = targets(old)
    return old


def _prepare(cfg: Config, log: Log) -> list[Prepared]:
    if not cfg.workloads & NEEDS_VIDEOS:
        return []
    passes = cfg.settings.cost_passes
    return [prepare(v, passes, log) for v in VIDEOS if v.name in cfg.files]


def _start_meta(cfg: Config, runner: Runner) -> Meta:
    """What is known before the run; ``_finish_meta`` adds the rest."""
    return Meta(
        date="",
        mode=cfg.mode,
        load_average=LoadAverage(list(os.getloadavg()), []),
        command="./scripts/bench.sh " + " ".join(cfg.argv),
        seconds=0,
        machine=environment.machine(),
        versions=environment.versions(runner),
        videos={},
        config=cfg.run_config(),
    )


def _finish_meta(meta: Meta, prepared: list[Prepared], started: float) -> None:
    meta.date = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    meta.load_average.end = list(os.getloadavg())
    meta.seconds = round(time.perf_counter() - started)
    meta.videos = {p.video.name: _video_meta(p) for p in prepared}


def _video_meta(p: Prepared) -> VideoMeta:
    v = p.video
    return VideoMeta(
        name=v.name,
        container=v.container,
        codec=v.codec,
        width=v.width,
        height=v.height,
        seconds=v.seconds,
        gop=v.gop,
        bframes=v.bframes,
        kbps=v.kbps,
        describe=v.describe(),
        bytes=v.path.stat().st_size,
        frames=p.oracle.frames,
        keyframes=len(p.oracle.keyframes),
        costs=p.costs,
        hubcli_threads_checked=p.threads_checked,
    )
