"""The benchmark's report (issue 16 §6): typed results that read back what they wrote,
a Markdown page rendered from the JSON alone, and partial runs merged into it."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from benchmarks.cli import merged
from benchmarks.model import ModelError, from_json, to_json
from benchmarks.report import render_markdown, write_report
from benchmarks.results import Report, StartupRow

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
