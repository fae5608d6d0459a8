"""W8: accuracy against a full PyAV decode. Each probe frame (random frames, first and
last, frames around keyframes) is read in its own call (PyAV sequential: in one call)
and compared with the oracle: bit-exact, or at least the right frame."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from benchmarks.peers import ALL_PEERS
from benchmarks.results import Failed, Peer, Probes

if TYPE_CHECKING:
    from benchmarks.peers_venv import Request
    from benchmarks.prepare import Bench, Prepared

#: A frame is the right one when its mean absolute difference to the oracle's frame k
#: is below this, and smaller than to frames k-1 and k+1.
RIGHT_FRAME_MAD = 2.0


def run(bench: Bench) -> dict[str, dict[Peer, Probes | Failed]]:
    return {p.video.name: _file(bench, p) for p in bench.videos}


def _file(bench: Bench, prepared: Prepared) -> dict[Peer, Probes | Failed]:
    out: dict[Peer, Probes | Failed] = {}
    name = prepared.video.name
    for peer in ALL_PEERS:
        reply = bench.runner(_request(bench, prepared, peer))
        if "error" in reply:
            out[peer] = Failed(reply["error"])
            bench.log(f"{name:11} W8 {peer:17} ERROR {reply['error']}")
            continue
        result = score(reply["probes"], prepared.oracle.hashes)
        out[peer] = result
        exact, right = (
            round(result.bit_exact * result.probes),
            round(result.right_frame * result.probes),
        )
        total = result.probes
        bench.log(f"{name:11} W8 {peer:17} bit-exact {exact}/{total} right-frame {right}/{total}")
    return out


def _request(bench: Bench, prepared: Prepared, peer: Peer) -> Request:
    return {
        "op": "probe",
        "peer": peer.value,
        "threads": 1,
        "source": prepared.dataset if peer == Peer.HUBCLI else str(prepared.video.path),
        "probes": prepared.oracle.probes[: bench.cfg.settings.probes],
        "oracle": str(prepared.oracle_frames),
        "oracle_index": prepared.oracle.probe_index,
        "one_call": peer == Peer.PYAV_SEQ,
    }


def score(probes: list[dict[str, Any]], hashes: list[str]) -> Probes:
    """The probes a peer answered, against the oracle's hashes."""
    exact = right = 0
    wrong: list[int] = []
    for p in probes:
        k, (prev, here, nxt) = p["frame"], p["mad"]
        exact += p["hash"] == hashes[k]
        ok = here < RIGHT_FRAME_MAD and here < prev and here < nxt
        right += ok
        if not ok:
            wrong.append(k)
    total = len(probes)
    return Probes(
        probes=total,
        bit_exact=exact / total,
        right_frame=right / total,
        wrong_frames=wrong,
        mad=[round(p["mad"][1], 3) for p in probes],
    )
