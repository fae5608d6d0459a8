"""The format's rules for names that several modules check (a light module: the
credential store and the command line's start-up import it without the codecs)."""

from __future__ import annotations

import re

#: A creds key name (format_spec/links.md).
CREDS_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
#: The reserved key name meaning "the environment's credentials"; never a stored key.
CREDS_ENV_KEY = "ENV"


def is_creds_key(name: object) -> bool:
    """Whether ``name`` may name a stored creds key (``ENV`` is reserved)."""
    return isinstance(name, str) and bool(CREDS_KEY_RE.fullmatch(name)) and name != CREDS_ENV_KEY
