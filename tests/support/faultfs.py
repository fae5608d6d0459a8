"""An fsspec filesystem wrapper that fails chosen calls: the k-th read or write raises an
error or a timeout (once, or from then on), or a read comes back short."""

from __future__ import annotations

import errno
from typing import Any

READS = {"cat_file", "cat_ranges", "info", "find", "exists"}
WRITES = {"pipe_file", "put_file", "rm_file"}


class FaultyFS:
    """Forwards to ``inner``; ``plan(kind, k, mode, persistent)`` arms a fault.

    ``kind``: "read" or "write". ``mode``: "error" (OSError EIO), "timeout"
    (TimeoutError) or, for reads, "short" (the data loses its last bytes, no error).
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = {"read": 0, "write": 0}
        self.armed: tuple[str, int, str, bool] | None = None
        self.injected = 0

    def plan(self, kind: str, k: int, mode: str, persistent: bool) -> None:
        self.calls = {"read": 0, "write": 0}
        self.armed = (kind, k, mode, persistent)

    def disarm(self) -> None:
        self.armed = None

    def _strip_protocol(self, path: str) -> str:
        return str(self.inner._strip_protocol(path))

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.inner, name)
        kind = "read" if name in READS else "write" if name in WRITES else None
        if kind is None:
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            n = self.calls[kind]
            self.calls[kind] += 1
            fault = self._fault(kind, n)
            if fault in ("error", "timeout"):
                self.injected += 1
                if fault == "error":
                    raise OSError(errno.EIO, f"injected fault in {name}")
                raise TimeoutError(f"injected timeout in {name}")
            result = real(*args, **kwargs)
            if fault == "short" and isinstance(result, bytes) and result:
                self.injected += 1
                return result[: max(0, len(result) - 7)]
            if (
                fault == "short"
                and isinstance(result, list)
                and all(isinstance(b, bytes) for b in result)
            ):
                self.injected += 1
                return [b[: max(0, len(b) - 7)] for b in result]
            return result

        return call

    def _fault(self, kind: str, n: int) -> str | None:
        if self.armed is None:
            return None
        armed_kind, k, mode, persistent = self.armed
        if armed_kind != kind or n < k or (n > k and not persistent):
            return None
        return mode
