"""The machine and the versions a run records (``meta.machine``, ``meta.versions``)."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import av
import numpy as np

import hubcli
from benchmarks.results import Machine, Versions
from benchmarks.videos import ROOT

if TYPE_CHECKING:
    from benchmarks.runner import Runner


def machine() -> Machine:
    return Machine(
        cpu=_proc_field("/proc/cpuinfo", "model name") or platform.processor() or "",
        cores=os.cpu_count(),
        ram_gib=round(_ram_bytes() / 2**30, 1),
        os=platform.platform(),
    )


def _proc_field(path: str, name: str) -> str | None:
    """The value of the first ``name: value`` line of a /proc file (None off Linux)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return None
    return next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith(name)), None)


def _ram_bytes() -> int:
    total = _proc_field("/proc/meminfo", "MemTotal")
    return int(total.split()[0]) * 1024 if total else 0


def versions(runner: Runner) -> Versions:
    """This process's versions, the peers' process's (when it runs), and the commit."""
    out = Versions(
        python=platform.python_version(),
        hubcli=hubcli.__version__,
        av=av.__version__,
        av_ffmpeg=str(getattr(av, "ffmpeg_version_info", "?")),
        numpy=np.__version__,
    )
    if runner.use_venv:
        peer = runner({"op": "versions", "venv": True}).get("versions", {})
        out.peer_python = peer.get("python")
        out.torch = peer.get("torch")
        out.torchcodec = peer.get("torchcodec")
        out.torchcodec_ffmpeg = peer.get("torchcodec_ffmpeg")
        out.decord = peer.get("decord")
    out.hubcli_commit = _commit()
    return out


def _commit() -> str:
    """HEAD's short hash, "+dirty" when hubcli/ has uncommitted changes."""
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "hubcli"], capture_output=True, text=True
    )
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
