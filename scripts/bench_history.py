"""W10: a dataset grown by one-sample commits (issue #14), locally and on S3 (moto behind a
counting proxy). Writes a JSON of the figures; ``python -m benchmarks --workloads W10``
runs the same workload into docs/benchmarks.md (or ``--history-json FILE`` takes them
from this script's output).

The workload itself is ``benchmarks/workloads/history.py`` (its docstring says what
is measured). Run: ``.venv/bin/python scripts/bench_history.py --out w10.json
[--max 100000] [--s3-max N]``.
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.model import to_json  # noqa: E402 - the repository root is on the path first
from benchmarks.workloads.history import measure  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench-cache" / "w10.json")
    parser.add_argument("--max", type=int, default=100_000, help="largest n, local")
    parser.add_argument("--s3-max", type=int, default=100_000, help="largest n on S3 (0: skip)")
    args = parser.parse_args()
    report = to_json(measure(args.max, args.s3_max, lambda line: print(line, flush=True)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v["summary"] for k, v in report.items()}, indent=1))


if __name__ == "__main__":
    main()
