"""Start-up time of the command line (issue #15), against a minimal Typer app with two
commands measured in the same run: the floor any Typer CLI pays.

Each command runs in a fresh process, the candidates interleaved round by round (so a
busy moment hits all of them), and the median of the rounds is reported with its ratio
to the minimal app's median.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import hubcli
from benchmarks.results import StartupRow
from testkit.videos import VideoSpec, make_video

if TYPE_CHECKING:
    from collections.abc import Callable

MINIMAL = """
import typer

app = typer.Typer()


@app.command()
def one(x: str) -> None:
    print(x)


@app.command()
def two(x: str) -> None:
    print(x)


if __name__ == "__main__":
    app()
"""
#: The command every other is divided by.
FLOOR = "minimal app: one x"


def commands(work: Path) -> dict[str, list[str]]:
    """The commands timed, with a minimal app and a one-sample dataset under ``work``."""
    python = sys.executable
    cli = shutil.which("hubcli", path=str(Path(python).parent)) or "hubcli"
    minimal = work / "minimal.py"
    minimal.write_text(MINIMAL)
    ds = work / "ds"
    clip = make_video(VideoSpec("a", "mp4", "libx264", frames=12), work / "a.mp4")
    hubcli.empty(ds).create_tensor("videos")
    hubcli.load(ds).videos.append(str(clip))
    return {
        FLOOR: [python, str(minimal), "one", "x"],
        "minimal app: --help": [python, str(minimal), "--help"],
        "python -c pass": [python, "-c", "pass"],
        "import hubcli": [python, "-c", "import hubcli"],
        "hubcli --version": [cli, "--version"],
        "hubcli --help": [cli, "--help"],
        "hubcli info DS": [cli, "info", str(ds)],
        "hubcli shape DS 'videos[0]'": [cli, "shape", str(ds), "videos[0]"],
    }


def timings(argvs: dict[str, list[str]], rounds: int) -> dict[str, list[float]]:
    """Seconds of each command per round, the commands interleaved."""
    times: dict[str, list[float]] = {name: [] for name in argvs}
    for _ in range(rounds):
        for name, argv in argvs.items():
            start = time.perf_counter()
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            times[name].append(time.perf_counter() - start)
    return times


def measure(rounds: int, say: Callable[[str], None]) -> dict[str, StartupRow]:
    work = Path(tempfile.mkdtemp(prefix="hubcli-startup-"))
    try:
        times = timings(commands(work), rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    floor = statistics.median(times[FLOOR])
    rows = {
        name: StartupRow(statistics.median(t) * 1000, statistics.median(t) / floor)
        for name, t in times.items()
    }
    for name, row in rows.items():
        say(f"{name:32} {row.median_ms:7.0f} ms  {row.ratio_to_minimal_app:.2f}x")
    return rows
