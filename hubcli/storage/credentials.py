"""Credentials as one value, and the one list of the fields each backend takes.

A sample's creds key (format_spec/links.md) resolves to a :class:`Credentials`:
anonymous (no key), the environment (the reserved key ``ENV``), or the explicit secrets
of a populated key. :meth:`Credentials.options` turns it into the options of one
backend's filesystem (storage/backends.py), so which field goes to which backend is
decided here and nowhere else. Secrets never appear in a ``repr``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hubcli.errors import CredentialsError

#: The options each backend's filesystem takes: the fields of the public ``creds=`` of
#: ``hubcli.read``/``hubcli.load``, checked by storage/backends.py.
BACKEND_FIELDS: dict[str, tuple[str, ...]] = {
    "s3": (
        "anonymous",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "endpoint_url",
        "region",
        "profile",
    ),
    "gcs": ("token", "project", "endpoint_url"),
    "http": ("headers",),
}
#: What a creds key's secrets may hold: S3's fields and profile, GCS's (or Drive's) token
#: and project. ``profile`` and ``project`` are not secret, but belong to the key's config.
SECRET_FIELDS: tuple[str, ...] = tuple(
    dict.fromkeys(f for kind in ("s3", "gcs") for f in BACKEND_FIELDS[kind] if f != "anonymous")
)
#: Environment variables that hold a key's fields (``creds populate --env`` captures
#: them; Drive reads its token from here for ``ENV``), and the field each becomes.
ENV_FIELDS = {
    "AWS_ACCESS_KEY_ID": "aws_access_key_id",
    "AWS_SECRET_ACCESS_KEY": "aws_secret_access_key",
    "AWS_SESSION_TOKEN": "aws_session_token",
    "AWS_ENDPOINT_URL": "endpoint_url",
    "AWS_DEFAULT_REGION": "region",
    "HUBCLI_GDRIVE_TOKEN": "token",
}
#: How to supply credentials, by backend, for error messages.
CREDS_HINTS = {
    "s3": "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE; AWS_ENDPOINT_URL "
    "for other S3 servers), or pass --creds-file (Python: creds=)",
    "gcs": "set GOOGLE_APPLICATION_CREDENTIALS (STORAGE_EMULATOR_HOST for an emulator), "
    "or pass --creds-file (Python: creds=)",
    "http": "check the URL; private servers need creds={'headers': {...}}",
    "gdrive": "set HUBCLI_GDRIVE_TOKEN with creds_key='ENV', or a creds key with a 'token'",
}


def check_fields(given: Iterable[str], allowed: tuple[str, ...], what: str) -> None:
    """Refuse fields not in ``allowed`` (naming them, never their values)."""
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise CredentialsError(
            f"unknown credential field(s) {unknown} for {what}", hint=f"use: {', '.join(allowed)}"
        )


def fields_from_env() -> dict[str, str]:
    """The credential fields set in this process's environment (ENV_FIELDS)."""
    return {field: os.environ[var] for var, field in ENV_FIELDS.items() if os.environ.get(var)}


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


class Source(StrEnum):
    """Where a read's credentials come from."""

    ANONYMOUS = "anonymous"  # unsigned requests: public objects only
    ENVIRONMENT = "environment"  # the backend's own conventions (AWS_*, Google's ADC)
    EXPLICIT = "explicit"  # a populated creds key's secrets, and nothing else


@dataclass(frozen=True, repr=False)
class Credentials:
    """How to sign the reads of one object: anonymous, the environment's, or explicit
    secrets (never mixed: a key without a key id reads anonymously, never with the
    environment's keys by accident)."""

    source: Source
    secrets: Secrets = field(default_factory=lambda: Secrets({}))

    @classmethod
    def anonymous(cls) -> Credentials:
        return cls(Source.ANONYMOUS)

    @classmethod
    def environment(cls) -> Credentials:
        return cls(Source.ENVIRONMENT)

    @classmethod
    def explicit(cls, secrets: Mapping[str, str]) -> Credentials:
        return cls(Source.EXPLICIT, secrets if isinstance(secrets, Secrets) else Secrets(secrets))

    def __repr__(self) -> str:
        return f"Credentials({self.source.value}, {self.secrets!r})"

    __str__ = __repr__

    def options(self, kind: str) -> dict[str, Any] | None:
        """The options of backend ``kind``'s filesystem (s3, gcs, http); None: the
        backend reads the environment itself."""
        if self.source is Source.ENVIRONMENT:
            return None
        chosen = {k: v for k, v in self.secrets.items() if k in BACKEND_FIELDS.get(kind, ())}
        if kind == "s3" and not {"aws_access_key_id", "profile"} & chosen.keys():
            chosen["anonymous"] = "true"
        if kind == "gcs":
            chosen.setdefault("token", "anon")
        return chosen

    def drive_token(self) -> str | None:
        """The OAuth token for Google Drive: the key's ``token``, or for the environment
        HUBCLI_GDRIVE_TOKEN's."""
        if self.source is Source.ENVIRONMENT:
            return fields_from_env().get("token")
        return self.secrets.get("token")


def backend_options(
    kind: str, creds: Credentials | Mapping[str, Any] | None
) -> Mapping[str, Any] | None:
    """The options of backend ``kind``'s filesystem for ``creds``: a creds key's value,
    or the options a caller gave (``hubcli.read(url, creds=...)``), or None (the
    environment's)."""
    if isinstance(creds, Credentials):
        return creds.options(kind)
    return creds
