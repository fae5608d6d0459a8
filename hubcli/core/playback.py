"""Where ``play()`` and ``visualize()`` go: the serve package registers a player here.

The core knows nothing of HTTP; the playback server sits above it and plugs in when it
is imported. It is imported on the first ``play()``/``visualize()`` (by name: the core
never imports it directly, and ``import hubcli`` does not pay for it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol

from hubcli.errors import HubcliError

if TYPE_CHECKING:
    from hubcli.core.dataset import Dataset
    from hubcli.core.sample import SampleView

#: The package that registers the player when it is imported.
PLAYER_PACKAGE = "hubcli.serve"


class Player(Protocol):
    def play(self, view: SampleView) -> str: ...

    def visualize(self, dataset: Dataset) -> str: ...


_PLAYER: Player | None = None


def register_player(player: Player) -> None:
    global _PLAYER
    _PLAYER = player


def player() -> Player:
    if _PLAYER is None:
        importlib.import_module(PLAYER_PACKAGE)
    if _PLAYER is None:
        raise HubcliError("playback is not available", hint=f"install {PLAYER_PACKAGE}")
    return _PLAYER
