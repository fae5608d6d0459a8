"""``hubcli.config``: the settings of reads, in one object.

(This module is ``hubcli.settings``, not ``hubcli.config``: importing a submodule
``hubcli.config`` would make the package attribute the module, hiding the object.)

Each setting starts from its environment variable (``HUBCLI_<NAME>``, read once, when
this module is first imported) or its default, and can be changed at any time::

    import hubcli
    hubcli.config.decoder_threads = 2          # every later decode
    with hubcli.config.override(read_ahead=8):  # only inside the block
        ...

Code reads a setting when it needs it, so a change applies to the next read. Where
one call needs its own value, pass it to that call instead (``numpy(threads=...)``).

=====================  ==============================  ===========================
setting                environment variable            default
=====================  ==============================  ===========================
``decoder_threads``    ``HUBCLI_DECODER_THREADS``      0: FFmpeg picks by cores
``convert_threads``    ``HUBCLI_CONVERT_THREADS``      0: by picture size
``skip_non_reference`` ``HUBCLI_SKIP_NON_REFERENCE``   true
``coalesce_gap``       ``HUBCLI_COALESCE_GAP``         unset: each store's own
``read_ahead``         ``HUBCLI_READ_AHEAD``           4
=====================  ==============================  ===========================
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from hubcli.errors import HubcliError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

_PREFIX = "HUBCLI_"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass
class Settings:
    """What reads may tune; every value is checked when it is set.

    Attributes
    ----------
    decoder_threads
        Threads of each video decoder; 0 lets FFmpeg pick from the core count.
    convert_threads
        swscale threads of each picture's RGB conversion; 0 picks by picture size
        (one below half a megapixel, else two).
    skip_non_reference
        Leave out non-reference H.264/HEVC pictures that no requested frame needs
        (the frames are the same; only decoding work is saved).
    coalesce_gap
        Byte ranges of packets closer than this are fetched as one request; None
        keeps each store's own gap (1 MiB on disk, 64 KiB over the network).
    read_ahead
        Batches of packets fetched ahead of the decoder, in as many threads, where a
        read waits on the network (0: none, each batch is read when it is needed).
    """

    decoder_threads: int = 0
    convert_threads: int = 0
    skip_non_reference: bool = True
    coalesce_gap: int | None = None
    read_ahead: int = 4

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, _check(name, value))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The defaults, overridden by the ``HUBCLI_*`` variables that are set."""
        env = os.environ if environ is None else environ
        settings = cls()
        for f in fields(cls):
            text = env.get(_PREFIX + f.name.upper())
            if text is not None and text.strip():
                setattr(settings, f.name, _parse(f.name, text.strip()))
        return settings

    @contextmanager
    def override(self, **changes: Any) -> Iterator[Settings]:
        """Change some settings inside a ``with`` block; the old values come back after."""
        before = {name: getattr(self, name) for name in changes}
        try:
            for name, value in changes.items():
                if name not in before or not hasattr(type(self), name):
                    raise AttributeError(name)
                setattr(self, name, value)
            yield self
        finally:
            for name, value in before.items():
                super().__setattr__(name, value)


def _parse(name: str, text: str) -> object:
    """An environment variable's text as the setting's type."""
    if name == "skip_non_reference":
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise _invalid(name, text, "true or false")
    try:
        return int(text)
    except ValueError:
        raise _invalid(name, text, "a whole number") from None


def _check(name: str, value: Any) -> Any:
    """``value`` if setting ``name`` may take it; else an error naming the setting."""
    if name == "skip_non_reference":
        if not isinstance(value, bool):
            raise _invalid(name, value, "True or False")
        return value
    if name == "coalesce_gap" and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _invalid(name, value, "a whole number >= 0")
    return value


def _invalid(name: str, value: object, expected: str) -> HubcliError:
    return HubcliError(
        f"setting {name} cannot be {value!r}: expected {expected}",
        hint=f"set hubcli.config.{name}, or {_PREFIX}{name.upper()} in the environment",
    )


#: The settings of this process (``hubcli.config``).
config = Settings.from_env()
