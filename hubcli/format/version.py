"""Format version and the rules for meeting other versions (format_spec/versioning.md)."""

from __future__ import annotations

import re

from hubcli.errors import CorruptDatasetError, UnsupportedFormatError

FORMAT_NAME = "hubcli"
#: The version this hubcli writes; it reads 1.0, 1.1 and 1.2 (and any 1.x manifest
#: under the rules of format_spec/versioning.md).
FORMAT_VERSION = "1.3"
FORMAT_MAJOR, FORMAT_MINOR = 1, 3
#: The version of a new dataset, and of one upgraded by its first write (the commit
#: log); a dataset becomes 1.3 when it gets a label tensor (versioning.md §3).
LOG_VERSION = "1.2"
#: The formats this hubcli reads (``hubcli --version``); it upgrades 1.0 and 1.1
#: datasets to 1.2 with their first write.
READS = "1.0, 1.1, 1.2 and 1.3"

_VERSION_RE = re.compile(r"^(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})$")


def parse_format_version(value: object, where: str) -> tuple[int, int]:
    """Parse a ``"MAJOR.MINOR"`` string; anything else is a corrupt manifest."""
    if not isinstance(value, str) or not (m := _VERSION_RE.fullmatch(value)):
        raise CorruptDatasetError(f"{where}: format_version {value!r} is not 'MAJOR.MINOR'")
    return int(m.group(1)), int(m.group(2))


def check_readable(version: tuple[int, int], where: str) -> None:
    """Readers refuse another major version: its meaning may differ (versioning.md §2)."""
    if version[0] != FORMAT_MAJOR:
        raise UnsupportedFormatError(
            f"{where} uses hubcli format {version[0]}.{version[1]}, "
            f"this hubcli reads format {FORMAT_MAJOR}.x",
            hint="upgrade hubcli (pip install -U hubcli)",
        )


def check_writable(version: tuple[int, int], where: str) -> None:
    """Writers refuse any newer version: rewriting the manifest would drop what they
    do not know (versioning.md §3)."""
    check_readable(version, where)
    if version[1] > FORMAT_MINOR:
        raise UnsupportedFormatError(
            f"{where} uses hubcli format {version[0]}.{version[1]}, newer than this "
            f"hubcli's {FORMAT_VERSION}; it can be read but not written",
            hint="upgrade hubcli (pip install -U hubcli) to write to it",
        )
