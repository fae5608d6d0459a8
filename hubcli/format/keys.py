"""Every storage key the format uses (format_spec/layout.md).

Keys are relative to the dataset root, '/'-separated, and never contain '..'.
"""

from __future__ import annotations

import re
import secrets

from hubcli.errors import CorruptDatasetError
from hubcli.format.limits import MAX_VERSION

VERSIONS_PREFIX = "versions/"
TENSORS_PREFIX = "tensors/"
_VERSION_KEY_RE = re.compile(r"^versions/([0-9]{20})\.json$")
_OBJECT_ID_RE = re.compile(r"^[0-9a-f]{32}$")


def version_key(version: int) -> str:
    """Key of the manifest of ``version``: 20 digits so names sort as numbers."""
    if not 0 <= version <= MAX_VERSION:
        # A 21-digit name would never be found again: the commit would be lost.
        raise CorruptDatasetError(
            f"version {version} is beyond the last version the format can name ({MAX_VERSION})",
            hint="no commit can follow it; copy the samples into a new dataset",
        )
    return f"{VERSIONS_PREFIX}{version:020d}.json"


def parse_version_key(key: str) -> int | None:
    """The version a manifest key names, or None for any other key (temp files...)."""
    m = _VERSION_KEY_RE.fullmatch(key)
    return int(m.group(1)) if m else None


def new_object_id() -> str:
    """A random 128-bit id: concurrent writers never pick the same chunk name."""
    return secrets.token_hex(16)


def is_object_id(value: str) -> bool:
    return bool(_OBJECT_ID_RE.fullmatch(value))


def tensor_prefix(tensor: str) -> str:
    return f"{TENSORS_PREFIX}{tensor}/"


def chunk_key(tensor: str, object_id: str) -> str:
    return f"{tensor_prefix(tensor)}chunks/{object_id}.chunk"


def segment_key(tensor: str, object_id: str) -> str:
    return f"{tensor_prefix(tensor)}segments/{object_id}.seg"


def is_object_key_of(tensor: str, key: str, kind: str) -> bool:
    """True if ``key`` is a well-formed chunk/segment key of ``tensor``."""
    suffix = {"chunks": ".chunk", "segments": ".seg"}[kind]
    head = f"{tensor_prefix(tensor)}{kind}/"
    if not (key.startswith(head) and key.endswith(suffix)):
        return False
    return is_object_id(key[len(head) : -len(suffix)])
