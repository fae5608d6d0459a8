"""Where ``play()`` and ``visualize()`` go: the serve package registers a player here.

The core knows nothing of HTTP; the playback server sits above it and plugs in when
``hubcli`` is imported (hubcli/__init__.py imports hubcli.serve).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from hubcli.errors import HubcliError

if TYPE_CHECKING:
    from hubcli.core.dataset import Dataset
    from hubcli.core.sample import SampleView


class Player(Protocol):
    def play(self, view: SampleView) -> str: ...

    def visualize(self, dataset: Dataset) -> str: ...


_PLAYER: Player | None = None


def register_player(player: Player) -> None:
    global _PLAYER
    _PLAYER = player


def player() -> Player:
    if _PLAYER is None:
        raise HubcliError("playback is not available", hint="import hubcli (it loads hubcli.serve)")
    return _PLAYER
