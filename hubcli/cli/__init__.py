"""The ``hubcli`` command line. Only this package imports typer.

``app.py`` holds the application and the one place where errors become output and exit
codes; ``options.py`` what the commands share; each ``*_cmd.py`` module a group of
commands, which parse their arguments, call the Python API and render the result.
``catalog.py`` names every command and its module: the app imports a command module
only when one of its commands runs (start-up time, issue #15).
"""

from __future__ import annotations

from hubcli.cli.app import app, main

__all__ = ["app", "main"]
