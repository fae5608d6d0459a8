"""Sends each request to the process that runs its peer: hubcli and PyAV here,
TorchCodec and decord to ``benchmarks.peers_venv`` under ``.bench-venv``."""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING, Any

from benchmarks import hubcli_peer, peers_venv
from benchmarks.config import PEER_PYTHON
from benchmarks.peers import VENV_PEERS
from benchmarks.results import Peer
from benchmarks.videos import ROOT

if TYPE_CHECKING:
    from benchmarks.peers_venv import Reader, Reply, Request

#: A handle opened in the peers' process is named "venv:N" here.
VENV_HANDLE = "venv:"
_VENV_NAMES = frozenset(p.value for p in VENV_PEERS)


def local_peer(name: str, threads: int) -> Reader:
    """A peer of this process: hubcli, or one of the PyAV readers."""
    if name == Peer.HUBCLI:
        return hubcli_peer.make_peer(name, threads)
    return peers_venv.make_peer(name, threads)


class Runner:
    """Runs requests; the peers' process is started on first use (and again if it
    died: a crashing peer costs its cell, not the run)."""

    def __init__(self, use_venv: bool) -> None:
        self.use_venv = use_venv
        self.proc: subprocess.Popen[str] | None = None
        self.handles = peers_venv.Handles()

    def __call__(self, req: Request) -> Reply:
        handle = str(req.get("handle", ""))
        if handle.startswith(VENV_HANDLE):  # a source opened in the peers' process
            return self.remote({**req, "handle": int(handle.removeprefix(VENV_HANDLE))})
        if req.get("peer") in _VENV_NAMES or req.get("venv"):
            return self._in_venv(req)
        if req["op"] == "loop":
            worker = (
                hubcli_peer.hubcli_loop_worker
                if req["peer"] == Peer.HUBCLI
                else peers_venv.loop_worker
            )
            return _guarded(lambda: {"workers": peers_venv.parallel_loops(worker, req)})
        return peers_venv.handle_request(req, self.handles, local_peer)

    def _in_venv(self, req: Request) -> Reply:
        if not self.use_venv:
            return {"error": "skipped (no .bench-venv)"}
        reply = self.remote(req)
        if req["op"] == "open" and "handle" in reply:
            reply["handle"] = f"{VENV_HANDLE}{reply['handle']}"
        return reply

    def remote(self, req: Request) -> Reply:
        """One request to the peers' process, and its reply."""
        proc = self._start()
        assert proc.stdin is not None  # both are pipes
        assert proc.stdout is not None
        try:
            proc.stdin.write(json.dumps([req]) + "\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
        except BrokenPipeError:
            line = ""
        if not line:
            proc.wait()
            self.proc = None
            return {"error": f"peer process died (exit {proc.returncode})"}
        reply: Reply = json.loads(line)[0]
        return reply

    def _start(self) -> subprocess.Popen[str]:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                [str(PEER_PYTHON), "-m", "benchmarks.peers_venv"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=ROOT,  # so that -m finds benchmarks/ and testkit/
            )
        return self.proc

    def trim(self, peer: Peer) -> None:
        """Give the free memory of the process that ran ``peer`` back to the system."""
        if peer not in VENV_PEERS:
            peers_venv.trim_memory()
        elif self.proc is not None and self.proc.poll() is None:
            self.remote({"op": "trim"})

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


def _guarded(run: Any) -> Reply:
    """``run()``'s reply, or its failure as an error reply (as the peers' process does)."""
    try:
        reply: Reply = run()
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {str(exc).strip()[:300]}"}
    return reply
