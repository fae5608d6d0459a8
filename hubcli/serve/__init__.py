"""Local playback: an HTTP server that serves dataset videos to a browser, with Range.

Importing this package registers the browser player behind ``tensor[i].play()`` and
``ds.visualize()`` (hubcli/core/playback.py).
"""

from hubcli.core.playback import register_player
from hubcli.serve.player import BrowserPlayer
from hubcli.serve.server import PlaybackServer

register_player(BrowserPlayer())

__all__ = ["BrowserPlayer", "PlaybackServer"]
