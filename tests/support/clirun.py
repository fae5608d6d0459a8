"""Run the installed ``hubcli`` executable in a subprocess, as a shell script would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HUBCLI = shutil.which("hubcli", path=str(Path(sys.executable).parent)) or shutil.which("hubcli")


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()


def hubcli_run(
    *args: str, input: str | None = None, env: dict[str, str] | None = None, cwd=None
) -> Run:
    assert HUBCLI, "the hubcli console script is not installed (pip install -e .)"
    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    done = subprocess.run(
        [HUBCLI, *args],
        input=input,
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=300,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def assert_user_error(run: Run, needle: str) -> None:
    """Exit 1, nothing on stdout, exactly one line on stderr, no traceback."""
    assert run.code == 1, (run.code, run.stderr)
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("error: "), run.stderr
    assert needle in run.stderr, run.stderr
    assert "Traceback" not in run.stderr


def assert_usage_error(run: Run, needle: str) -> None:
    assert run.code == 2, (run.code, run.stderr)
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("error: "), run.stderr
    assert needle in run.stderr, run.stderr
