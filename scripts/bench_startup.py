"""Start-up time of the command line (issue #15), against a minimal Typer app with two
commands measured in the same run. ``python -m benchmarks --workloads startup`` runs the
same workload into docs/benchmarks.md; the workload is
``benchmarks/workloads/startup.py``. Run: ``.venv/bin/python scripts/bench_startup.py``.
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.model import to_json  # noqa: E402 - the repository root is on the path first
from benchmarks.workloads.startup import measure  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-cache" / "startup.json")
    args = parser.parse_args()
    report = to_json(measure(args.rounds, print))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
