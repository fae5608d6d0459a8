"""Who runs what: the peers, where each runs, and which cells each reads, as tables.

A local cell is a (thread setting, workload) pair on one video. ``PEER_CHOICE`` says
which peers read it in a full run and in a quick one; ``RUNS_RULES`` how many timed
runs each does and whether the cell's time budget may stop it early.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from benchmarks.results import RANDOM_ACCESS, WHOLE, Peer, Setting, Workload

#: Peers that run in the benchmark's process (hubcli, PyAV).
LOCAL_PEERS = (Peer.HUBCLI, Peer.PYAV_SEEK, Peer.PYAV_SEQ)
#: Peers that need torch: they run in ``.bench-venv`` (``benchmarks.peers_venv``).
VENV_PEERS = (Peer.TC_EXACT, Peer.TC_APPROX, Peer.DECORD)
ALL_PEERS = LOCAL_PEERS + VENV_PEERS

#: Column headings of the report.
PEER_LABELS = {
    Peer.HUBCLI: "hubcli",
    Peer.PYAV_SEEK: "PyAV seek",
    Peer.PYAV_SEQ: "PyAV seq",
    Peer.TC_EXACT: "TC exact",
    Peer.TC_APPROX: "TC approx",
    Peer.DECORD: "decord",
}

#: Decoder threads of each setting: equal (1 each), W6 (2 each), each peer's best (0 =
#: FFmpeg's automatic count; TorchCodec num_ffmpeg_threads=0, decord num_threads=0).
SETTINGS = {Setting.T1: 1, Setting.T2: 2, Setting.AUTO: 0}

# PyAV's seek reader (Hub's) is the random-access baseline, PyAV's sequential decode
# the baseline of W5 (the whole video); a quick run leaves out the slowest baselines.
_SEQUENTIAL = (Peer.HUBCLI, Peer.PYAV_SEQ, *VENV_PEERS)
_WITH_SEEK = (Peer.HUBCLI, Peer.PYAV_SEEK, *VENV_PEERS)
_FAST = (Peer.HUBCLI, *VENV_PEERS)
_NONE: tuple[Peer, ...] = ()


@dataclass(frozen=True)
class PeerChoice:
    """The peers of a cell in a full and in a quick run; ``quick_files``, where set,
    are the only videos a quick run reads the cell on."""

    full: tuple[Peer, ...]
    quick: tuple[Peer, ...]
    quick_files: frozenset[str] | None = None


#: At equal threads (t1) everyone; W6 (t2) is W1-W4; "auto" (each peer's best) is W5,
#: plus W1-W4 in a full run. A quick run reads the whole video of the 360p clip only.
PEER_CHOICE: dict[tuple[Setting, Workload], PeerChoice] = {
    (Setting.T1, Workload.W0): PeerChoice(ALL_PEERS, ALL_PEERS),
    (Setting.T1, Workload.W1): PeerChoice(ALL_PEERS, ALL_PEERS),
    (Setting.T1, Workload.W2): PeerChoice(ALL_PEERS, _FAST),
    (Setting.T1, Workload.W3): PeerChoice(ALL_PEERS, _WITH_SEEK),
    (Setting.T1, Workload.W4): PeerChoice(ALL_PEERS, _FAST),
    (Setting.T1, Workload.W5A): PeerChoice(_SEQUENTIAL, _SEQUENTIAL),
    (Setting.T1, Workload.W5B): PeerChoice(_SEQUENTIAL, _NONE),
    **{(Setting.T2, w): PeerChoice(_WITH_SEEK, _FAST) for w in RANDOM_ACCESS},
    **{(Setting.AUTO, w): PeerChoice(_FAST, _NONE) for w in RANDOM_ACCESS},
    (Setting.AUTO, Workload.W5A): PeerChoice(_SEQUENTIAL, _SEQUENTIAL),
    (Setting.AUTO, Workload.W5B): PeerChoice(_SEQUENTIAL, _SEQUENTIAL, frozenset({"h264_360p"})),
}


def peers_for(setting: Setting, workload: Workload, quick: bool, file: str) -> tuple[Peer, ...]:
    """The peers that read this cell (none: the cell is not run)."""
    choice = PEER_CHOICE.get((setting, workload))
    if choice is None:
        return ()
    if not quick:
        return choice.full
    if choice.quick_files is not None and file not in choice.quick_files:
        return ()
    return choice.quick


#: How many runs a cell's reader does at least: the configured runs, the configured
#: runs of the whole video, one, or a few (1 quick, 3 full).
RunCount = Literal["runs", "runs_whole", "one", "few"]


@dataclass(frozen=True)
class RunsRule:
    """Readers of ``workloads`` (all if empty) among ``peers`` (all if empty) do at
    least ``runs`` runs; with ``budget`` the cell may stop once its seconds are spent."""

    workloads: frozenset[Workload]
    peers: frozenset[Peer]
    runs: RunCount
    budget: bool

    def applies(self, peer: Peer, workload: Workload) -> bool:
        return (not self.workloads or workload in self.workloads) and (
            not self.peers or peer in self.peers
        )


_ANY_WORKLOAD: frozenset[Workload] = frozenset()
_ANY_PEER: frozenset[Peer] = frozenset()

#: The first rule that applies decides. hubcli and TorchCodec exact, which the targets
#: compare, always do the same runs; PyAV's sequential decode of a random frame costs
#: seconds and needs one.
_W5_TARGET = frozenset({Peer.HUBCLI, Peer.PYAV_SEQ})
RUNS_RULES = (
    RunsRule(frozenset({Workload.W5B}), _W5_TARGET, "runs_whole", False),
    RunsRule(frozenset({Workload.W5B}), _ANY_PEER, "one", True),
    RunsRule(_ANY_WORKLOAD, frozenset({Peer.HUBCLI, Peer.TC_EXACT}), "runs", False),
    RunsRule(frozenset(RANDOM_ACCESS), frozenset({Peer.PYAV_SEQ}), "one", True),
    RunsRule(_ANY_WORKLOAD, _ANY_PEER, "few", True),
)


def runs_rule(peer: Peer, workload: Workload) -> RunsRule:
    return next(rule for rule in RUNS_RULES if rule.applies(peer, workload))


#: Workloads whose frames are many: only the first run's are hashed.
HASH_FIRST_ONLY = frozenset(WHOLE)
