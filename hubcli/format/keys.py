"""Every storage key the format uses (format_spec/layout.md).

Keys are relative to the dataset root, '/'-separated, and never contain '..'.
"""

from __future__ import annotations

import os
import re

from hubcli.errors import CorruptDatasetError
from hubcli.format.limits import MAX_VERSION

VERSIONS_PREFIX = "versions/"
LOG_PREFIX = "log/"
CHECKPOINTS_PREFIX = "checkpoints/"
TENSORS_PREFIX = "tensors/"
#: Every prefix the format owns; other keys under a root are never touched.
FORMAT_PREFIXES = (VERSIONS_PREFIX, LOG_PREFIX, CHECKPOINTS_PREFIX, TENSORS_PREFIX)
HINT_KEY = "log/hint.json"
GC_MARKER_KEY = "log/gc.json"
_VERSION_KEY_RE = re.compile(r"^versions/([0-9]{20})\.json$")
_RECORD_KEY_RE = re.compile(r"^log/([0-9]{20})\.json$")
_CHECKPOINT_KEY_RE = re.compile(r"^checkpoints/([0-9]{20})\.json$")
_OBJECT_ID_RE = re.compile(r"^[0-9a-f]{32}$")


def _number(version: int) -> str:
    if not 0 <= version <= MAX_VERSION:
        # A 21-digit name would never be found again: the commit would be lost.
        raise CorruptDatasetError(
            f"version {version} is beyond the last version the format can name ({MAX_VERSION})",
            hint="no commit can follow it; copy the samples into a new dataset",
        )
    return f"{version:020d}"


def version_key(version: int) -> str:
    """Key of the manifest of ``version`` (1.0/1.1, or the 1.2 anchor): 20 digits so
    names sort as numbers."""
    return f"{VERSIONS_PREFIX}{_number(version)}.json"


def record_key(version: int) -> str:
    """Key of the commit record of ``version`` (format 1.2)."""
    return f"{LOG_PREFIX}{_number(version)}.json"


def checkpoint_key(version: int) -> str:
    return f"{CHECKPOINTS_PREFIX}{_number(version)}.json"


def _parse(pattern: re.Pattern[str], key: str) -> int | None:
    m = pattern.fullmatch(key)
    return int(m.group(1)) if m else None


def parse_version_key(key: str) -> int | None:
    """The version a manifest key names, or None for any other key (temp files...)."""
    return _parse(_VERSION_KEY_RE, key)


def parse_record_key(key: str) -> int | None:
    return _parse(_RECORD_KEY_RE, key)


def parse_checkpoint_key(key: str) -> int | None:
    return _parse(_CHECKPOINT_KEY_RE, key)


def new_object_id() -> str:
    """A random 128-bit id: concurrent writers never pick the same chunk name."""
    # os.urandom is the CSPRNG secrets uses, without importing secrets (and hmac,
    # hashlib) at start-up.
    return os.urandom(16).hex()


def is_object_id(value: str) -> bool:
    return bool(_OBJECT_ID_RE.fullmatch(value))


def tensor_prefix(tensor: str) -> str:
    return f"{TENSORS_PREFIX}{tensor}/"


def tensor_dir(name: str, taken: bool) -> str:
    """The folder of a new tensor ``name``: its name, unless that folder is ``taken``
    (used by a renamed tensor, or holding objects of a dropped one), then the name
    with a random suffix (log.md §3). A folder is never shared: a writer that planned
    an append on a tensor tells it from a new one of the same name by its ``dir``."""
    if not taken:
        return name
    return f"{name[:55]}-{os.urandom(4).hex()}"  # still a name of the tensor pattern


def chunk_key(directory: str, object_id: str) -> str:
    """A chunk of the tensor whose objects are in ``tensors/<directory>/``."""
    return f"{tensor_prefix(directory)}chunks/{object_id}.chunk"


def segment_key(directory: str, object_id: str) -> str:
    return f"{tensor_prefix(directory)}segments/{object_id}.seg"


def node_key(directory: str, object_id: str) -> str:
    return f"{tensor_prefix(directory)}nodes/{object_id}.node"


def is_object_key_of(tensor: str, key: str, kind: str) -> bool:
    """True if ``key`` is a well-formed chunk/segment/node key of ``tensor``."""
    suffix = {"chunks": ".chunk", "segments": ".seg", "nodes": ".node"}[kind]
    head = f"{tensor_prefix(tensor)}{kind}/"
    if not (key.startswith(head) and key.endswith(suffix)):
        return False
    return is_object_id(key[len(head) : -len(suffix)])
