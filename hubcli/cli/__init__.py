"""The ``hubcli`` command line. Only this package imports typer.

``app.py`` holds the application and the one place where errors become output and exit
codes; ``options.py`` what the commands share; each ``*_cmd.py`` module a group of
commands, which parse their arguments, call the Python API and render the result.
"""

from __future__ import annotations

from hubcli.cli import (  # noqa: F401 - each registers its commands on the app
    append_cmd,
    creds_cmd,
    dataset_cmd,
    export_cmd,
    history_cmd,
    rows_cmd,
    serve_cmd,
    show_cmd,
    verify_cmd,
)
from hubcli.cli.app import app, main

__all__ = ["app", "main"]
