"""Run fuzz cases in a process of their own: each input is appended to a fresh dataset,
read and verified. Every outcome must be success or a HubcliError; a hang (watchdog) or a
crash of the interpreter fails the whole batch. Prints a JSON summary.

    python fuzz_worker.py CASES_DIR SECONDS_PER_CASE
"""

from __future__ import annotations

import faulthandler
import json
import resource
import shutil
import sys
import tempfile
from pathlib import Path

import hubcli
from hubcli.core.verify import verify

MEMORY_LIMIT = 3 << 30  # bytes of address space: unbounded memory fails, visibly


def run_case(path: Path, work: Path) -> str:
    root = work / "ds"
    shutil.rmtree(root, ignore_errors=True)
    ds = hubcli.empty(root)
    ds.create_tensor("videos", sample_compression=path.suffix.lstrip("."))
    try:
        ds.videos.append(str(path))
    except hubcli.HubcliError:
        return "refused"
    if not verify(ds).ok:
        return "stored-wrongly"  # hubcli's own checksums disagree: a bug
    try:
        ds.videos[0, [0, -1]].numpy()
    except hubcli.HubcliError:
        return "appended-then-error"
    # Damage in the middle of the stream shows when those frames are decoded: a clear
    # error for those frames (the file is damaged), never a crash.
    return "read" if verify(ds, deep=True).ok else "damaged-frames-refused"


def main() -> None:
    cases, seconds = Path(sys.argv[1]), float(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    outcomes: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as work:
        for path in sorted(cases.iterdir()):
            faulthandler.dump_traceback_later(seconds, exit=True)  # a hang ends the batch
            outcome = run_case(path, Path(work))
            faulthandler.cancel_dump_traceback_later()
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    print(json.dumps(outcomes))


if __name__ == "__main__":
    main()
