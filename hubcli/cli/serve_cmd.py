"""``hubcli play`` and ``hubcli serve``: the local playback server."""

from __future__ import annotations

import sys
import time
import webbrowser
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from hubcli.cli import output
from hubcli.cli.app import app
from hubcli.cli.options import CredsOpt, DatasetArg, QuietOpt, open_dataset
from hubcli.errors import SelectorError

if TYPE_CHECKING:
    import hubcli
    from hubcli.serve.server import PlaybackServer


HostOpt = Annotated[str, typer.Option(help="Address to bind (loopback by default).")]
PortOpt = Annotated[int, typer.Option(help="Port (0: a free one).")]
NoBrowserOpt = Annotated[bool, typer.Option("--no-browser", help="Do not open a browser.")]


@app.command()
def play(
    dataset: DatasetArg,
    selector: Annotated[str, typer.Argument(help="One sample, e.g. videos[0].")],
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 0,
    no_browser: NoBrowserOpt = False,
    quiet: QuietOpt = False,
    creds_file: CredsOpt = None,
) -> None:
    """Serve one video for playback in the browser; prints the URL; Ctrl-C stops it.

    Example: hubcli play ./clips 'videos[0]'
    """
    from hubcli.core.sample import SampleView

    ds = open_dataset(dataset, creds_file)
    target = ds.select(selector)
    if not isinstance(target, SampleView) or target.rest:
        raise SelectorError(
            f"play takes one sample, not {selector!r}", hint="e.g. hubcli play DATASET 'videos[0]'"
        )
    _serve_until_interrupted(
        ds, host, port, no_browser, lambda s: s.player_url(target.tensor.name, target.index)
    )


@app.command()
def serve(
    dataset: DatasetArg,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 0,
    no_browser: NoBrowserOpt = False,
    quiet: QuietOpt = False,
    creds_file: CredsOpt = None,
) -> None:
    """Serve a page that browses the whole dataset (ds.visualize() from the shell).

    Example: hubcli serve ./clips --port 8000
    """
    ds = open_dataset(dataset, creds_file)
    _serve_until_interrupted(ds, host, port, no_browser, lambda s: s.url)


def _serve_until_interrupted(
    ds: hubcli.Dataset,
    host: str,
    port: int,
    no_browser: bool,
    page: Callable[[PlaybackServer], str],
) -> None:
    from hubcli.serve.server import PlaybackServer  # the server loads when it is used

    with PlaybackServer(ds, host=host, port=port) as server:
        url = page(server)
        output.print_lines([url])
        sys.stdout.flush()
        if not no_browser:
            # The browser gets a private file that redirects to ``url``: its argv is
            # public (ps), so the token must not be in it (stdout is the user's).
            webbrowser.open(server.launch_url(url))
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            output.stderr_console().print("stopped", markup=False, highlight=False)
