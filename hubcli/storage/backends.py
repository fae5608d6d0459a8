"""fsspec filesystems for remote URLs, built from explicit options or the environment.

The options each backend takes are listed once, in storage/credentials.py.

Backends are imported on first use (fsspec's registry idea), so ``hubcli --help`` does
not pay for botocore or google-auth. Credential values never appear in messages.
"""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING, Any

from hubcli.errors import CredentialsError, StorageError
from hubcli.storage.credentials import BACKEND_FIELDS, check_fields
from hubcli.storage.transient import Timeouts

if TYPE_CHECKING:
    from collections.abc import Mapping


def filesystem(kind: str, creds: Mapping[str, Any] | None) -> Any:
    """A fresh fsspec filesystem for ``kind`` (never fsspec's shared instance cache: two
    datasets with different credentials must not share a client), with the connect and
    read timeouts of the environment (storage/transient.py), so a hung server fails."""
    creds = dict(creds or {})
    timeouts = Timeouts.from_env()
    checked = _checked(creds, BACKEND_FIELDS[kind], kind)
    if kind == "s3":
        return _s3(checked, timeouts)
    if kind == "gcs":
        return _gcs(checked, timeouts)
    return _http(checked, timeouts)


def _checked(creds: dict[str, Any], allowed: tuple[str, ...], kind: str) -> dict[str, Any]:
    check_fields(creds, allowed, kind)
    if not all(isinstance(v, (str, dict)) for v in creds.values()):
        raise CredentialsError(f"credential fields for {kind} must be strings")
    return creds


def _module(name: str, package: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        raise StorageError(f"{package} is not installed", hint=f"pip install {package}") from None


def _aiohttp_timeout(timeouts: Timeouts) -> Any:
    """aiohttp's timeouts: none on the whole request (a long download is fine), one on
    connecting and one on each wait for the next bytes. Its default is 300 s in all."""
    aiohttp = _module("aiohttp", "aiohttp")
    return aiohttp.ClientTimeout(total=None, sock_connect=timeouts.connect, sock_read=timeouts.read)


def _s3(creds: dict[str, Any], timeouts: Timeouts) -> Any:
    s3fs = _module("s3fs", "s3fs")
    client: dict[str, Any] = {}
    if "region" in creds:
        client["region_name"] = creds["region"]
    options: dict[str, Any] = {
        "skip_instance_cache": True,
        "use_listings_cache": False,  # format_spec/layout.md §3: listings must be fresh
        "client_kwargs": client,
        # hubcli retries transient faults itself (storage/transient.py), so botocore
        # and s3fs each try once: a persistent fault fails in seconds, not minutes.
        "config_kwargs": {
            "retries": {"max_attempts": 1, "mode": "standard"},
            "connect_timeout": timeouts.connect,  # botocore's default: 60 s each
            "read_timeout": timeouts.read,
        },
    }
    if "aws_access_key_id" in creds or "aws_secret_access_key" in creds:
        options["key"] = creds.get("aws_access_key_id")
        options["secret"] = creds.get("aws_secret_access_key")
        options["token"] = creds.get("aws_session_token")
    if "endpoint_url" in creds:
        options["endpoint_url"] = creds["endpoint_url"]
    if "profile" in creds:
        options["profile"] = creds["profile"]
    if creds.get("anonymous"):
        options["anon"] = True  # unsigned requests: public objects
    fs = s3fs.S3FileSystem(**options)
    fs.retries = 1
    return fs


#: gcsfs's methods that run its own retry loop (6 tries, up to ~31 s of sleeps).
_GCSFS_RETRYING = ("_request", "_get_file_request", "_get_file_concurrent")


@functools.cache
def _gcs_class() -> Any:
    """gcsfs's filesystem, trying each request once: hubcli retries transient faults
    itself (storage/transient.py), and gcsfs's loop inside ours made a dead server take
    minutes whatever the timeouts (the same choice as for botocore and s3fs above). The
    retry loop is fixed when gcsfs's class is defined, so its methods are wrapped anew;
    a gcsfs that no longer has them is used as it is."""
    gcsfs = _module("gcsfs", "gcsfs")
    retry = _module("gcsfs.retry", "gcsfs")
    base = gcsfs.GCSFileSystem
    methods = {
        name: getattr(getattr(base, name, None), "__wrapped__", None) for name in _GCSFS_RETRYING
    }
    if not hasattr(retry, "retry_request") or None in methods.values():
        return base
    once = {name: retry.retry_request(retries=1)(method) for name, method in methods.items()}
    return type("OneTryGCSFileSystem", (base,), once)


def _gcs(creds: dict[str, Any], timeouts: Timeouts) -> Any:
    options: dict[str, Any] = {
        "skip_instance_cache": True,
        "use_listings_cache": False,
        "requests_timeout": _aiohttp_timeout(timeouts),
    }
    if "token" in creds:
        options["token"] = creds["token"]
    if "project" in creds:
        options["project"] = creds["project"]
    if "endpoint_url" in creds:
        options["endpoint_url"] = creds["endpoint_url"]
    return _gcs_class()(**options)


def _http(creds: dict[str, Any], timeouts: Timeouts) -> Any:
    http = _module("fsspec.implementations.http", "aiohttp")
    client: dict[str, Any] = {"timeout": _aiohttp_timeout(timeouts)}
    if "headers" in creds:
        client["headers"] = creds["headers"]
    return http.HTTPFileSystem(skip_instance_cache=True, client_kwargs=client)
