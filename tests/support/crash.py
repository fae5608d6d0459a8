"""Kill a writer at chosen points: a fork of the test process counts the steps of the
write path in LocalStore (every file write, fsync, link, rename, unlink and mkdir) and
SIGKILLs itself at step ``k``. Nothing in hubcli is changed for this."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import hubcli.storage.local as local_module


class _Steps:
    def __init__(self, kill_at: int) -> None:
        self.kill_at = kill_at
        self.count = 0

    def step(self, partial: Callable[[], None] | None = None) -> None:
        """One step of the write path; at the chosen one, maybe do half of it, then die."""
        if self.count == self.kill_at:
            if partial is not None:
                partial()
            os.kill(os.getpid(), signal.SIGKILL)
        self.count += 1


class _CountingFile:
    def __init__(self, f: Any, steps: _Steps) -> None:
        self._f, self._steps = f, steps

    def write(self, data: bytes) -> int:
        # A torn write: half of the data reaches the file, then the process dies.
        self._steps.step(lambda: (self._f.write(data[: len(data) // 2]), self._f.flush()))
        return int(self._f.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


class _CountingOs:
    """The ``os`` module as local.py sees it, with the steps of a write counted."""

    def __init__(self, steps: _Steps) -> None:
        self._steps = steps

    def __getattr__(self, name: str) -> Any:
        real = getattr(os, name)
        if name in ("fsync", "link", "replace", "unlink", "rmdir"):

            def counted(*args: Any, **kwargs: Any) -> Any:
                self._steps.step()
                return real(*args, **kwargs)

            return counted
        return real


def install(kill_at: int) -> _Steps:
    """Count the write steps of this process (a fork); die at step ``kill_at``
    (-1: never, just count)."""
    steps = _Steps(kill_at)
    local_module.os = _CountingOs(steps)  # type: ignore[assignment]
    original = local_module.LocalStore._temp_file

    @contextmanager
    def temp_file(self: Any, key: str) -> Any:
        steps.step()  # creating the temp file (and its folders)
        with original(self, key) as (folder, temp, name, f):
            yield folder, temp, name, _CountingFile(f, steps)

    local_module.LocalStore._temp_file = temp_file  # type: ignore[method-assign]
    return steps


def run_forked(work: Callable[[], None], kill_at: int) -> tuple[int, int]:
    """Run ``work`` in a fork that dies at step ``kill_at``. Returns (exit status, steps
    counted: written to a pipe when ``work`` finishes without being killed)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            os.close(read_end)
            steps = install(kill_at)
            work()
            os.write(write_end, str(steps.count).encode())
        except BaseException:
            code = 3
        finally:
            os._exit(code)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    counted = os.read(read_end, 64)
    os.close(read_end)
    return status, int(counted) if counted else -1
