"""hubcli's benchmark against its peers, on videos it encodes itself (and caches).

Run it with ``./scripts/bench.sh`` (it creates the peers' venv ``.bench-venv`` first),
or ``python -m benchmarks`` from the repository root; ``--quick`` for a short run,
``--workloads`` and ``--files`` for a part of it. hubcli and the PyAV peers run in this
process; TorchCodec and decord run in ``.bench-venv`` (``benchmarks.peers_venv``, JSON
over a pipe), on the same files, with the same frame indices (fixed seeds). Results go
to ``docs/benchmarks.md`` and ``docs/benchmarks.json``. Not part of CI.

Workloads (each the median of several runs, after one untimed warm-up):

W0 open + (frames, height, width); W1 one random frame; W2 10 random frames, unsorted,
one call; W3 ``[a:a+100:5]``; W4 32 evenly spaced frames of the whole video; W5 the
first 100 frames, and the whole video; W6 W1-W4 with 2 decoder threads; W7 W1/W3/W4 on
an S3 server (moto) behind a counting proxy: bytes and GETs; W8 accuracy against a
full PyAV decode; W9 a training loop (issue #18: ``hubcli.torch.ClipDataset`` in a
DataLoader with 2 workers against TorchCodec's ``clips_at_random_indices`` and decord,
full size and 224x224, RSS, S3 bytes, and consecutive runs); append and export
throughput; W10 a dataset grown by one-sample commits (locally and on S3; commit times
at n also paired with a 10-commit dataset's); startup, the command line's start-up time
against a minimal Typer app; labels, label tensors (issue #17: whole-tensor reads
against ``np.load`` and JSON Lines, one warm label, a row append against its videos
alone, requests on S3); W11 Ray (issue #19: ``hubcli.ray.read_frames`` against
``ray.data.read_videos`` + a filter, locally and on S3, and ingest with ``--jobs`` and
the Datasink).

The lower bound of a read is what any decoder must do: the packets from each needed
keyframe to the last wanted frame (the runs hubcli plans, which merge overlaps),
times the measured single-thread decode cost per packet, plus one RGB conversion per
wanted frame, also measured.

The package: ``cli`` (flags, the stages of a run), ``config`` (quick and full modes),
``videos`` and ``oracle`` (the videos, their full decode, the decode cost and lower
bound), ``peers`` (who reads which cell, as tables), ``peers_venv`` (the timing harness
and every peer but hubcli; it also runs alone under ``.bench-venv``), ``hubcli_peer``
(hubcli as a peer: the one module that reaches into hubcli), ``runner`` (which process
runs a request), ``workloads/`` (one module per workload), ``results`` (the report as
dataclasses), ``model`` (those dataclasses <-> JSON), ``targets`` (the issues' targets
as a table) and ``report`` (the JSON and the Markdown page). It imports nothing at
package level, so that ``python -m benchmarks.peers_venv`` needs neither hubcli nor
PyAV. Video specs, the frame hash, the counting proxy and environment patching come
from ``testkit``, shared with the tests.
"""
