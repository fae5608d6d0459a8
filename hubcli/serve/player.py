"""``tensor[i].play()`` and ``ds.visualize()``: one server per dataset object, the page
opened in the default browser, or shown inline in Jupyter."""

from __future__ import annotations

import os
import webbrowser
from typing import TYPE_CHECKING, Any

from hubcli.core.dataset import Dataset
from hubcli.serve.server import PlaybackServer

if TYPE_CHECKING:
    from hubcli.core.sample import SampleView

_SERVERS: dict[int, tuple[Any, PlaybackServer]] = {}


def server_for(dataset: Dataset) -> PlaybackServer:
    """The running server of ``dataset`` (started on first use, on 127.0.0.1)."""
    entry = _SERVERS.get(id(dataset))
    if entry is None or entry[0] is not dataset:
        entry = (dataset, PlaybackServer(dataset))
        _SERVERS[id(dataset)] = entry
    return entry[1]


def stop_all() -> None:
    for _, server in _SERVERS.values():
        server.stop()
    _SERVERS.clear()


class BrowserPlayer:
    def play(self, view: SampleView) -> str:
        """The sample's player, under a token that opens that sample only."""
        dataset = view.tensor.dataset
        if not isinstance(dataset, Dataset):  # a tensor's host is a Dataset here
            raise TypeError(f"play() needs a dataset's sample, not one of {dataset!r}")
        server = server_for(dataset)
        name, index = view.tensor.name, view.index
        url = server.player_url(name, index)
        if _in_jupyter():
            src = server.video_url(name, index)
            _display_html(f"<video controls src='{src}' style='max-width:100%'></video>")
        else:
            _open(server, url)
        return url

    def visualize(self, dataset: Dataset) -> str:
        server = server_for(dataset)
        if _in_jupyter():
            _display_html(
                f"<iframe src='{server.url}' style='width:100%;height:640px;border:0'></iframe>"
            )
        else:
            _open(server, server.url)
        return server.url


def _open(server: PlaybackServer, url: str) -> None:
    """Open ``url`` through the server's private launch file (never the token in argv)."""
    if os.environ.get("HUBCLI_NO_BROWSER"):
        return
    webbrowser.open(server.launch_url(url))


def _in_jupyter() -> bool:
    try:
        from IPython import get_ipython  # type: ignore[import-not-found]
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _display_html(html: str) -> None:
    from IPython.display import HTML, display  # type: ignore[import-not-found]

    display(HTML(html))
