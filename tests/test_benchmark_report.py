"""The benchmark's report (issue 16 §6): typed results that read back what they wrote,
a Markdown page rendered from the JSON alone, and partial runs merged into it."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from benchmarks import report as report_module
from benchmarks.cli import merged
from benchmarks.model import ModelError, from_json, to_json
from benchmarks.report import render_markdown, write_report
from benchmarks.results import (
    Agreement,
    Consecutive,
    LoopPeer,
    LoopResult,
    Peer,
    Report,
    ResizeCost,
    S3Loop,
    StartupRow,
)

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture(scope="module")
def committed() -> dict:
    return json.loads((DOCS / "benchmarks.json").read_text())


def test_the_committed_json_reads_back_exactly(committed):
    assert to_json(from_json(Report, committed)) == committed


def test_the_committed_page_is_rendered_from_the_json(committed):
    """Every table of docs/benchmarks.md comes from docs/benchmarks.json: no figure is
    edited by hand, and none is lost between the two."""
    assert render_markdown(from_json(Report, committed)) == (DOCS / "benchmarks.md").read_text()


def test_a_misspelt_or_mistyped_field_is_an_error(committed):
    broken = json.loads(json.dumps(committed))
    broken["meta"]["sekonds"] = broken["meta"].pop("seconds")
    with pytest.raises(ModelError, match="sekonds"):
        from_json(Report, broken)
    broken = json.loads(json.dumps(committed))
    broken["meta"]["seconds"] = "70"
    with pytest.raises(ModelError):
        from_json(Report, broken)


def test_a_partial_run_replaces_only_its_sections(committed, tmp_path):
    out = tmp_path / "benchmarks"
    shutil.copy(DOCS / "benchmarks.json", out.with_suffix(".json"))
    old = from_json(Report, committed)
    new = Report(dataclasses.replace(old.meta, command="./scripts/bench.sh --workloads startup"))
    new.startup = {"minimal Typer app": StartupRow(median_ms=280.0, ratio_to_minimal_app=1.0)}
    result = merged(out, new)
    assert result.startup == new.startup
    assert result.local == old.local and result.remote == old.remote  # kept as they were
    assert (
        result.meta.merged
        and "startup: `./scripts/bench.sh --workloads startup`" in (result.meta.merged[-1])
    )
    # A note whose sections were all replaced again is dropped; the others stay.
    assert all(n.split(":")[0] != "startup" for n in result.meta.merged[:-1])
    write_report(result, out)
    again = from_json(Report, json.loads(out.with_suffix(".json").read_text()))
    assert again == result and "Sections run again later: startup" in render_markdown(again)


def _loader(clips_per_s: float, rss_mb: float) -> LoopPeer:
    return LoopPeer(
        reads=800,
        clips_per_s=clips_per_s,
        rss_warm_mb=[rss_mb, rss_mb],
        rss_end_mb=[rss_mb, rss_mb + 1],
        rss_growth=[0.0, 0.01],
        rss_series=[[[8, rss_mb]], [[8, rss_mb]]],
        wall_s=12.5,
        rss_start_mb=[rss_mb - 50, rss_mb - 50],
        exact_frames=512,
        checked_frames=512,
        cpu_ms_per_clip=[40.0, 41.0],
    )


def test_w9_reads_back_renders_its_goals_and_reads_the_hand_written_loop(committed):
    """W9 (issue 18): every part of the DataLoader workload survives JSON, each goal is a
    ratio to a peer of the same run with its verdict, and a report written by the old
    hand-written loop (readers beside the parameters) still reads, so --merge works."""
    loop = LoopResult(
        "h264_360p",
        8,
        16,
        peers={Peer.HUBCLI: _loader(80.0, 90.0), Peer.TC_EXACT: _loader(50.0, 400.0)},
        size=[224, 224],
        resized={Peer.HUBCLI: _loader(100.0, 90.0), Peer.TC_EXACT: _loader(80.0, 300.0)},
        resize_cost=ResizeCost(frames=32, fused_ms=0.5, full_ms=0.2, full_then_resize_ms=0.6),
        agreement=Agreement(frames=64, values=100, within_1=0.995, mean_abs=0.2, max_abs=3),
        s3={Peer.HUBCLI: S3Loop(80, 6.0, 100, 11_000_000, 10_800_000, 10_800_000, False)},
        consecutive=[
            Consecutive(
                "vp9_720p", "first 100 frames", 100, "quiet", [70.0], {1: [90.0], 0: [100.0]}
            )
        ],
    )
    assert from_json(LoopResult, to_json(loop)) == loop
    goals = {(g.target, g.workload): g for g in loop.goals()}
    assert goals[("W9: clips/s, hubcli / TC exact", "full size")].value == 80.0 / 50.0
    assert goals[("W9: clips/s, hubcli size= / TC exact + Resize", "224x224")].passed is False
    assert goals[("W9: fused resize / convert, then resize", "224x224")].passed is False
    consecutive = goals[
        (
            "W9: consecutive read, hubcli / TC exact at its best threads",
            "vp9_720p first 100 frames, quiet",
        )
    ]
    assert consecutive.value == 70.0 / 90.0 and consecutive.passed is True  # TC's best: 1 thread
    page = "\n".join(report_module._loop_md(loop))
    assert (
        "| W9: clips/s, hubcli size= / TC exact + Resize | 224x224 | 1.250 | >= 1.5x | **miss** |"
        in page
    )
    old = {"video": "h264_360p", "videos": 8, "clip": 16, "hubcli": committed["loop"].get("hubcli")}
    if old["hubcli"] is None:  # the committed report already has the DataLoader's layout
        old["hubcli"] = to_json(_loader(74.0, 82.0))
    read = from_json(LoopResult, old)
    assert Peer.HUBCLI in read.peers and not read.resized and not read.consecutive


def test_w11_reads_back_and_renders_each_goal_against_its_peer():
    """W11 (issue 19): the Ray section survives JSON, each goal is a ratio to a peer (or
    a lower bound) of the same run with its verdict, and the page shows them; a reader
    that failed is "n/a", not a pass."""
    from benchmarks.report_ray import ray_goals, ray_md
    from benchmarks.results_ray import (
        HUBCLI,
        JOBS_1,
        JOBS_2,
        LOCAL,
        PEER,
        S3,
        SINK,
        RayIngest,
        RayRead,
        RayResult,
    )

    result = RayResult(20, "H.264", 36_000, 30, 1_200, 150_000_000, 20_000, 80_000_000, 2)
    result.reads[LOCAL] = {
        HUBCLI: RayRead(10.0, 1_200, 80_000_000, True, 12_000, 1_200, cpu_seconds=15.0),
        PEER: RayRead(40.0, 1_200, 150_000_000, False, 36_000, 1_200, cpu_seconds=75.0),
    }
    result.reads[S3] = {HUBCLI: RayRead(0, 0, 0, False, 0, 0, error="boom")}
    result.ingest = RayIngest(
        200, 20_000_000, "small", {JOBS_1: [10.0], JOBS_2: [5.0], SINK: [8.0]}
    )
    result.load_average = [3.0, 4.0]
    assert from_json(RayResult, to_json(result)) == result
    goals = {(g.target, g.workload): g for g in ray_goals(result)}
    speed = goals[("W11: wall time, read_videos + filter / read_frames", LOCAL)]
    assert speed.value == 4.0 and speed.passed is False
    assert goals[("W11: packets decoded / decode lower bound", LOCAL)].value == 0.6
    assert goals[("W11: video bytes read / packet lower bound", S3)].passed is None
    assert goals[(f"W11: ingest throughput, {JOBS_2} / --jobs 1", LOCAL)].passed is True
    assert goals[(f"W11: ingest throughput, {SINK} / --jobs 1", LOCAL)].value == 1.25
    page = "\n".join(ray_md(result))
    assert (
        "| W11: wall time, read_videos + filter / read_frames | local | 4.000 | >= 5x | **miss** |"
        in page
    )
    assert "error: boom" in page and "load average" in page
    assert result.cpu_ratio(LOCAL) == 5.0 and "idle machine: local 5.00x." in page


def test_w11_ingest_compares_each_context_way_with_its_own_baseline():
    """The API in a warm process and the pure Python loop are each divided by their own
    one-process run, not by the command line's; they are context, not goals."""
    from benchmarks.report_ray import ray_goals, ray_md
    from benchmarks.results_ray import (
        API_1,
        API_2,
        JOBS_1,
        JOBS_2,
        LOCAL,
        LOOP_1,
        LOOP_2,
        RayIngest,
        RayResult,
    )

    seconds = {JOBS_1: [4.0], JOBS_2: [2.5], API_1: [3.0], API_2: [2.0], LOOP_1: [1.6]}
    seconds[LOOP_2] = [1.0]
    result = RayResult(20, "H.264", 36_000, 30, 1_200, 150_000_000, 20_000, 80_000_000, 2)
    result.ingest = RayIngest(200, 20_000_000, "small", seconds)
    assert from_json(RayResult, to_json(result)) == result
    assert result.ingest.compared() == [JOBS_2, API_2, LOOP_2]
    assert result.ingest.ratio(API_2) == 1.5 and result.ingest.ratio(LOOP_2) == 1.6
    assert result.ingest.ratio(JOBS_2) == 1.6
    goals = {g.target for g in ray_goals(result) if g.workload == LOCAL}
    assert not any(API_2 in g or LOOP_2 in g for g in goals)
    page = "\n".join(ray_md(result))
    assert f"| `{API_2}` | 2.0 | 100.0 | 10.0 | 1.50x of `{API_1}` |" in page
    assert f"| `{LOOP_2}` | 1.0 | - | - | 1.60x of `{LOOP_1}` |" in page
    assert f"{API_2} / {API_1}: 1.50x; {LOOP_2} / {LOOP_1}: 1.60x." in page
