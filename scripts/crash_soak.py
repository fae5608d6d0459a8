"""Crash soak: thousands of SIGKILLs at random steps of random writes; every time, the
dataset must open, hold the old samples or all the new ones, and pass `verify`.

    .venv/bin/python scripts/crash_soak.py --kills 5000

Uses the fork-and-kill harness of tests/crash.py (it counts LocalStore's write steps
and kills itself at the chosen one) and the test corpus of tests/media.py.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

# tests/support (the crash helper, the test videos) and testkit/ at the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import hubcli
from hubcli.core.verify import verify
from support.crash import run_forked
from support.media import CORPUS, make_video


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="hubcli-soak-"))
    mp4s = [make_video(s, work / s.filename) for s in CORPUS if s.container == "mp4"]
    base = work / "base"
    hubcli.empty(base).create_tensor("videos")
    hubcli.load(base).videos.append(str(mp4s[0]))
    started, outcomes = time.monotonic(), {"before": 0, "after": 0}
    try:
        for n in range(args.kills):
            new = [str(p) for p in rng.sample(mp4s, rng.randint(1, len(mp4s)))]
            root = work / "ds"
            shutil.rmtree(root, ignore_errors=True)
            shutil.copytree(base, root)
            _, steps = run_forked(
                lambda root=root, new=new: hubcli.load(root).videos.extend(new), -1
            )
            shutil.rmtree(root)
            shutil.copytree(base, root)
            k = rng.randrange(steps)
            status, _ = run_forked(
                lambda root=root, new=new: hubcli.load(root).videos.extend(new), k
            )
            assert os.WIFSIGNALED(status), status
            assert os.WTERMSIG(status) == signal.SIGKILL, status
            ds = hubcli.load(root)
            length = len(ds.videos)
            assert length in (1, 1 + len(new)), (n, k, length)
            report = verify(ds)
            assert report.ok, (n, k, report.problems)
            outcomes["before" if length == 1 else "after"] += 1
            if (n + 1) % 100 == 0:
                print(f"{n + 1} kills, {outcomes}, {time.monotonic() - started:.0f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"done: {args.kills} kills, samples lost 0, corrupt 0, outcomes {outcomes}")


if __name__ == "__main__":
    main()
