#!/usr/bin/env bash
# Install hubcli into ./.venv (Python 3.11+) and run the main job on a clip it encodes.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
exec .venv/bin/python scripts/demo.py "$@"
