"""Environment variables set for a while and then restored, as a user's shell would
set them (the S3 test server is reached through ``AWS_ENDPOINT_URL``, as a user's
would be)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping


@contextmanager
def patched_env(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set ``values`` (``None``: unset the variable) and restore every one of them,
    present or absent, on the way out, also after an exception."""
    saved = {key: os.environ.get(key) for key in values}
    _apply(values)
    try:
        yield
    finally:
        _apply(saved)


def _apply(values: Mapping[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def s3_env(endpoint: str, key_id: str, secret: str) -> dict[str, str | None]:
    """The variables that point boto/s3fs (and so hubcli) at an S3 server."""
    return {
        "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }
