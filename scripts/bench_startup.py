"""Start-up time of the command line (issue #15), against a minimal Typer app with two
commands measured in the same run: the floor any Typer CLI pays.

Each command runs in a fresh process, the candidates interleaved round by round (so a
busy moment hits all of them), and the median of the rounds is reported with its ratio
to the minimal app's median. Run: ``.venv/bin/python scripts/bench_startup.py``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
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


def measure(commands: dict[str, list[str]], rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, argv in commands.items():
            start = time.perf_counter()
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            times[name].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-cache" / "startup.json")
    args = parser.parse_args()
    python = sys.executable
    hubcli = shutil.which("hubcli", path=str(Path(python).parent)) or "hubcli"
    work = Path(tempfile.mkdtemp(prefix="hubcli-startup-"))
    try:
        minimal = work / "minimal.py"
        minimal.write_text(MINIMAL)
        ds = work / "ds"
        sys.path.insert(0, str(ROOT / "tests"))
        import hubcli as api

        dataset = api.empty(ds)
        dataset.create_tensor("videos")
        dataset.videos.append(str(ROOT / "tests" / "fixtures" / "clips" / "a.mp4"))
        commands = {
            "minimal app: one x": [python, str(minimal), "one", "x"],
            "minimal app: --help": [python, str(minimal), "--help"],
            "python -c pass": [python, "-c", "pass"],
            "import hubcli": [python, "-c", "import hubcli"],
            "hubcli --version": [hubcli, "--version"],
            "hubcli --help": [hubcli, "--help"],
            "hubcli info DS": [hubcli, "info", str(ds)],
            "hubcli shape DS 'videos[0]'": [hubcli, "shape", str(ds), "videos[0]"],
        }
        times = measure(commands, args.rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    floor = statistics.median(times["minimal app: one x"])
    report = {
        name: {
            "median_ms": statistics.median(t) * 1000,
            "ratio_to_minimal_app": statistics.median(t) / floor,
        }
        for name, t in times.items()
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    for name, cell in report.items():
        print(f"{name:32} {cell['median_ms']:7.0f} ms  {cell['ratio_to_minimal_app']:.2f}x")


if __name__ == "__main__":
    main()
