"""Progress of a run: to stderr, and to a file (``bench-cache/last-run.log``)."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType


class Log:
    """Call it with a line of progress. Passed to whatever reports progress, so that a
    test can give it no file and a run can keep its log beside the cache."""

    def __init__(self, path: Path | None = None) -> None:
        self.file = path.open("w") if path is not None else None

    def __call__(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)
        if self.file is not None:
            self.file.write(f"{time.strftime('%H:%M:%S')} {message}\n")
            self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    def __enter__(self) -> Log:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
