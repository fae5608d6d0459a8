"""hubcli's benchmark against its peers: ``python -m benchmarks`` (the package
``benchmarks/``, whose docstring describes the workloads and the method). Kept so that
``python scripts/bench.py ...`` still works; same flags."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.cli import main

if __name__ == "__main__":
    main()
