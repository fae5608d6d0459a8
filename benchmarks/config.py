"""A run's settings: the quick and the full mode as a table, and what a run selects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from benchmarks.results import RunConfig, Workload
from benchmarks.videos import ROOT

if TYPE_CHECKING:
    from pathlib import Path

#: The peers' interpreter (TorchCodec, decord), made by scripts/bench.sh.
PEER_PYTHON = ROOT / ".bench-venv" / "bin" / "python"


@dataclass(frozen=True)
class Mode:
    """How much of each workload a run does."""

    runs: int  # timed runs of a local cell
    runs_whole: int  # ... of the whole video (W5b)
    few_runs: int  # least runs of a reader no target compares
    max_seconds: int  # a cell stops after this once its least runs are done
    probes: int | None  # W8 probe frames per video (None: all)
    cost_passes: int  # passes over a video measuring the decode cost (the best counts)
    w7_runs: int
    w9_reads: int  # W9: clips read by hubcli and by TorchCodec in each DataLoader run
    w9_peer_reads: int  # ... by each reader on S3 (decord: see workloads.loop)
    w9_check_clips: int  # W9: hubcli's clips hashed against a full decode
    w9_consecutive_runs: int  # W9: rounds of each consecutive read
    append_reps: int
    history_max: int  # W10: the largest commit count, locally
    history_s3_max: int  # ... on S3 (0: not on S3)
    startup_rounds: int


MODES = {
    "quick": Mode(2, 1, 1, 3, 8, 1, 2, 320, 80, 32, 1, 2, 1_000, 100, 10),
    "full": Mode(5, 2, 3, 12, None, 2, 3, 10_000, 1_000, 400, 3, 3, 100_000, 100_000, 30),
}

#: The local read workloads, selectable by name; "W6" selects their 2-thread cells.
LOCAL = frozenset({*(w.value for w in Workload), "W6"})
#: Every workload a run can select (``--workloads``), the default being all of them.
EVERY = LOCAL | {"W7", "W8", "W9", "append", "export", "W10", "startup", "labels", "W11"}
#: The workloads that read the benchmark's videos (the others bring their own).
NEEDS_VIDEOS = EVERY - {"W10", "startup", "labels", "W11"}  # W11 encodes its own


@dataclass(frozen=True)
class Config:
    mode: str  # a key of MODES
    files: tuple[str, ...]  # the videos read
    workloads: frozenset[str]
    out: Path  # the report is written to OUT.md and OUT.json
    no_peers: bool  # TorchCodec and decord are left out
    argv: tuple[str, ...]  # the command line's arguments, as the report records them
    history_json: Path | None = None  # W10's figures from an earlier run, instead of running it
    merge: bool = False  # this run's workloads replace theirs in the report at OUT
    w9_clips_override: int | None = None  # --w9-clips: W9's clip count instead of the mode's
    ingest_rounds: int | None = None  # --ingest-only N: W11's ingest alone, N rounds

    @property
    def use_venv(self) -> bool:
        """Whether TorchCodec and decord run (in .bench-venv, if it exists)."""
        return not self.no_peers and PEER_PYTHON.exists()

    @property
    def quick(self) -> bool:
        return self.mode == "quick"

    @property
    def settings(self) -> Mode:
        return MODES[self.mode]

    @property
    def w9_clips(self) -> int:
        """Clips hubcli and TorchCodec read in each W9 DataLoader run."""
        return self.w9_clips_override or self.settings.w9_reads

    @property
    def w9_peer_clips(self) -> int:
        """Clips of the S3 runs: a tenth (TorchCodec reads whole objects there), at least
        80. (decord reads a 25th: ``workloads.loop``.)"""
        if self.w9_clips_override is None:
            return self.settings.w9_peer_reads
        return max(8 * 10, self.w9_clips_override // 10)

    @property
    def w9_check_clips(self) -> int:
        return min(self.settings.w9_check_clips, self.w9_clips // 4)

    def run_config(self) -> RunConfig:
        """The settings the report records (``meta.config``)."""
        m = self.settings
        return RunConfig(
            runs=m.runs,
            probes=m.probes,
            runs_whole_video=m.runs_whole,
            max_seconds_per_cell=m.max_seconds,
            w7_runs=m.w7_runs,
            w9_reads=self.w9_clips,
            w9_peer_reads=self.w9_peer_clips,
        )


def parse_workloads(text: str) -> frozenset[str]:
    """``--workloads``: comma-separated names; empty = all; "W5" = both halves."""
    chosen = set(text.split(",")) if text else set(EVERY)
    if "W5" in chosen:
        chosen = (chosen - {"W5"}) | {Workload.W5A.value, Workload.W5B.value}
    unknown = chosen - EVERY
    if unknown:
        raise ValueError(f"unknown workloads {sorted(unknown)}")
    return frozenset(chosen)
