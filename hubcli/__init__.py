"""hubcli: video datasets you can index like numpy arrays, on disk or in a bucket.

>>> import hubcli
>>> ds = hubcli.empty("videos_ds")
>>> ds.create_tensor("videos", htype="video", sample_compression="mp4")
>>> ds.videos.append(hubcli.read("clip.mp4"))
>>> ds.videos[0, 10:20].numpy().shape
(10, 360, 640, 3)

The public names are imported on first use (PEP 562), so that ``import hubcli`` and
the command line start fast: PyAV, the cloud backends and the playback server load
only when something needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hubcli import errors
from hubcli.errors import HubcliError
from hubcli.format.version import FORMAT_VERSION

if TYPE_CHECKING:
    from hubcli.core.dataset import Dataset, dataset, empty, load
    from hubcli.core.sample import SamplesView, SampleView
    from hubcli.core.sources import FileSource, LinkSource, UrlSource, VideoSource, link, read
    from hubcli.core.tensor import Tensor
    from hubcli.settings import config

__version__ = "0.3.0"

#: Public name -> the module that defines it.
_LAZY = {
    "Dataset": "hubcli.core.dataset",
    "dataset": "hubcli.core.dataset",
    "empty": "hubcli.core.dataset",
    "load": "hubcli.core.dataset",
    "LinkSource": "hubcli.core.sources",
    "link": "hubcli.core.sources",
    "SampleView": "hubcli.core.sample",
    "SamplesView": "hubcli.core.sample",
    "FileSource": "hubcli.core.sources",
    "UrlSource": "hubcli.core.sources",
    "VideoSource": "hubcli.core.sources",
    "read": "hubcli.core.sources",
    "Tensor": "hubcli.core.tensor",
    "config": "hubcli.settings",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hubcli' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # next time, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "FORMAT_VERSION",
    "Dataset",
    "FileSource",
    "HubcliError",
    "LinkSource",
    "SampleView",
    "SamplesView",
    "Tensor",
    "UrlSource",
    "VideoSource",
    "__version__",
    "config",
    "dataset",
    "empty",
    "errors",
    "link",
    "load",
    "read",
]
