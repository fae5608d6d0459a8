"""hubcli: video datasets you can index like numpy arrays, on disk or in a bucket.

>>> import hubcli
>>> ds = hubcli.empty("videos_ds")
>>> ds.create_tensor("videos", htype="video", sample_compression="mp4")
>>> ds.videos.append(hubcli.read("clip.mp4"))
>>> ds.videos[0, 10:20].numpy().shape
(10, 360, 640, 3)
"""

from hubcli import errors, serve  # noqa: F401 - serve registers the player of play()
from hubcli.core.dataset import Dataset, dataset, empty, load
from hubcli.core.links import LinkSource, link
from hubcli.core.sample import SamplesView, SampleView
from hubcli.core.sources import FileSource, UrlSource, VideoSource, read
from hubcli.core.tensor import Tensor
from hubcli.errors import HubcliError
from hubcli.format.version import FORMAT_VERSION

__version__ = "0.2.0"

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
    "dataset",
    "empty",
    "errors",
    "link",
    "load",
    "read",
]
