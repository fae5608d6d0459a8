#!/usr/bin/env bash
# Install hubcli with its test dependencies into ./.venv (and Debian's chromium if it is
# missing) and run every check: ruff (lint + format), mypy (strict) and the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test,torch,torchdata,ray]" "torch==2.13.0"
# The browser tests drive Debian's Chromium through Playwright (never a downloaded browser).
if ! command -v chromium >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
.venv/bin/ruff check hubcli tests scripts benchmarks testkit
.venv/bin/ruff format --check hubcli tests scripts benchmarks testkit
.venv/bin/mypy
status=0
.venv/bin/python -m pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests (exit 5)" >&2
    exit 0
fi
exit "$status"
