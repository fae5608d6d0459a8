"""Named credentials: which secrets a creds key has in this process and on this machine.

A dataset stores key *names* only (format_spec/links.md). Secrets come from
``populate_creds`` (this process), from the per-user store for managed keys
(``$XDG_CONFIG_HOME/hubcli/credentials.json``, mode 0600 in a 0700 folder, keyed by
dataset id and key name), or from the environment for the reserved key ``ENV``.
Nothing here ever prints a secret: ``Secrets.__repr__`` redacts them.
"""

from __future__ import annotations

import json
import os
import re
import secrets as _random
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from hubcli.errors import CredentialsError

ENV = "ENV"
KEY_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
FIELDS = (
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "endpoint_url",
    "region",
    "token",
)
#: Environment variables ``--env`` captures, and the field each becomes.
ENV_FIELDS = {
    "AWS_ACCESS_KEY_ID": "aws_access_key_id",
    "AWS_SECRET_ACCESS_KEY": "aws_secret_access_key",
    "AWS_SESSION_TOKEN": "aws_session_token",
    "AWS_ENDPOINT_URL": "endpoint_url",
    "AWS_DEFAULT_REGION": "region",
    "HUBCLI_GDRIVE_TOKEN": "token",
}


class Secrets(Mapping[str, str]):
    """A read-only mapping of credential fields whose repr never shows a value."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        self._fields = dict(fields)

    def __getitem__(self, key: str) -> str:
        return self._fields[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"Secrets({', '.join(f'{k}=***' for k in self._fields)})"

    __str__ = __repr__


def check_key_name(name: object) -> str:
    if not isinstance(name, str) or not KEY_NAME_RE.fullmatch(name) or name == ENV:
        raise CredentialsError(
            f"invalid creds key name {name!r}",
            hint="use 1-64 letters, digits, '_', '-' or '.'; 'ENV' is reserved for the environment",
        )
    return name


def parse_secrets(creds: object, key: str) -> Secrets:
    """Validate a creds dict (as given to ``populate_creds``) without echoing values."""
    if not isinstance(creds, Mapping):
        raise CredentialsError(f"credentials for key {key!r} must be a dict of strings")
    unknown = sorted(set(creds) - set(FIELDS))
    if unknown:
        raise CredentialsError(
            f"unknown credential field(s) {unknown} for key {key!r}",
            hint=f"use: {', '.join(FIELDS)}",
        )
    if not all(isinstance(v, str) and v for v in creds.values()):
        raise CredentialsError(f"credential fields for key {key!r} must be non-empty strings")
    if not creds:
        raise CredentialsError(
            f"no credential fields given for key {key!r}", hint=f"use: {', '.join(FIELDS)}"
        )
    return Secrets(creds)


def secrets_from_env(key: str) -> Secrets:
    """The credential fields set in this process's environment."""
    found = {field: os.environ[var] for var, field in ENV_FIELDS.items() if os.environ.get(var)}
    if not found:
        raise CredentialsError(
            f"no credentials in the environment for key {key!r}",
            hint=f"set some of {', '.join(ENV_FIELDS)}",
        )
    return Secrets(found)


def store_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "hubcli" / "credentials.json"


def _load() -> dict[str, Any]:
    path = store_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {"version": 1, "datasets": {}}
    except (OSError, ValueError):
        raise CredentialsError(
            f"the credential store {path} is unreadable",
            hint="remove it and populate the keys again",
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("datasets"), dict):
        raise CredentialsError(
            f"the credential store {path} is damaged", hint="remove it and populate the keys again"
        )
    return data


def load_managed(dataset_id: str, key: str) -> Secrets | None:
    """The stored secrets of a managed key, or None."""
    keys = _load()["datasets"].get(dataset_id)
    entry = keys.get(key) if isinstance(keys, dict) else None
    if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
        return None
    return Secrets(entry)


def save_managed(dataset_id: str, key: str, secrets: Mapping[str, str]) -> Path:
    """Store a managed key's secrets for this user (0600 file in a 0700 folder)."""
    path = store_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    data = _load()
    keys = data["datasets"].get(dataset_id)
    if not isinstance(keys, dict):
        keys = data["datasets"][dataset_id] = {}
    keys[key] = dict(secrets)
    temp = path.with_name(f".{path.name}.{_random.token_hex(6)}.partial")
    # Created 0600 from the start (no window where another user could read it).
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    os.chmod(path, 0o600)
    return path
