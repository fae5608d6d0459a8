#!/usr/bin/env bash
# hubcli's benchmark against PyAV, TorchCodec and decord (not part of CI).
#
# Installs hubcli with its test extras (moto for the S3 workload) into ./.venv and the
# peers into ./.bench-venv when they are missing, then runs the benchmarks package, which
# writes docs/benchmarks.md and docs/benchmarks.json. Arguments go to python -m benchmarks:
#   ./scripts/bench.sh            # full run
#   ./scripts/bench.sh --quick    # few runs, 320 training-loop clips
#   ./scripts/bench.sh --workloads W9 --files h264_720p,h264_360p,hevc_720p,vp9_720p \
#       --w9-clips 2000 --merge   # the training loop (issue 18) alone
#   ./scripts/bench.sh --help
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

# hubcli (editable), PyAV, moto[server], s3fs: the main venv.
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
if ! .venv/bin/python -c "import hubcli, av, moto.server, s3fs" 2>/dev/null; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[test]"
fi

# TorchCodec loads the system's FFmpeg shared libraries (4 to 7).
if ! command -v ffmpeg >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null
    else
        echo "bench.sh: ffmpeg is missing; TorchCodec needs it (sudo apt-get install ffmpeg)" >&2
    fi
fi

# The peers, in their own venv: torch for CPU, TorchCodec 0.13 (later wheels need the
# CUDA libraries to load), decord2 (module decord).
PEERS=(torch==2.13.0 torchcodec==0.13.0 decord2==3.4.0 numpy)
if ! .bench-venv/bin/python -c "import torch, torchcodec.decoders, decord" 2>/dev/null; then
    [ -x .bench-venv/bin/python ] || "$PYTHON" -m venv .bench-venv
    .bench-venv/bin/python -m pip install --quiet --upgrade pip
    .bench-venv/bin/python -m pip install --quiet "${PEERS[@]}"
fi

exec .venv/bin/python -m benchmarks "$@"
