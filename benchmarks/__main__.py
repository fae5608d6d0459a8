"""``python -m benchmarks``: see the package's docstring."""

from benchmarks.cli import main

if __name__ == "__main__":  # not when a spawned W9 worker re-imports the main module
    main()
