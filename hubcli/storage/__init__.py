"""Bytes under keys: the only layer that touches disks, buckets and networks.

Nothing here knows the format. Missing keys raise ``FileNotFoundError``, a lost
create-if-absent race raises ``FileExistsError`` (fsspec's convention), and any other
failure of the backend raises :class:`hubcli.errors.StorageError`.
"""

from hubcli.storage.base import Store, check_key
from hubcli.storage.local import LocalStore
from hubcli.storage.memory import MemoryStore
from hubcli.storage.remote import FsspecStore
from hubcli.storage.resolve import open_store

__all__ = ["FsspecStore", "LocalStore", "MemoryStore", "Store", "check_key", "open_store"]
