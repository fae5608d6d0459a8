"""One redaction for every text that leaves hubcli: errors, warnings, logs, tracebacks.

A secret is recognised by its *name* (a query parameter, a header, a ``name=value`` or
``"name": "value"`` pair), by the ``Bearer``/``Basic`` schemes of an Authorization
header, by the user info of a URL and by the shape of an AWS access key id. One rule,
:func:`is_secret_name`, decides which names are secret; :func:`redact_url` and
:func:`has_secrets` apply it to one URL, :func:`redact` to any text (library messages
quote whole URLs, so the rule must hold inside free text too).

This is the bottom layer: it imports nothing from hubcli, so ``errors.py`` can use it.
"""

from __future__ import annotations

import logging
import re
import traceback
from urllib.parse import unquote_plus, urlsplit, urlunsplit

REDACTED = "REDACTED"

#: A name is secret when one of its words is one of these.
_SECRET_WORDS = frozenset(
    {
        "token",
        "key",
        "sig",
        "signature",
        "credential",
        "credentials",
        "secret",
        "password",
        "passwd",
        "pwd",
        "jwt",
        "auth",
        "authorization",
        "session",
        "apikey",
        "accesskey",
    }
)
# Single words that end in a secret word ("accesstoken", "clientsecret"). Not "key":
# "keyframe" and Drive's "resourcekey" are single words, and harmless.
_SECRET_SUFFIXES = (
    "token",
    "secret",
    "password",
    "passwd",
    "signature",
    "credential",
    "credentials",
    "apikey",
    "accesskey",
)
_SECRET_PREFIXES = ("x-amz-", "x-goog-")
# hubcli's own argument that names a creds key (a name, never a secret): its hints say
# ``creds_key='ENV'``, which must survive redaction.
_NOT_SECRET = frozenset({"creds_key"})
_SEPARATORS = re.compile(r"[-_.\s]+")
_CAMEL_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")

# `scheme://user:password@host`: the user info goes.
_USER_INFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^\s/?#@'\"<>]+@")
# Header lines and header dicts: `Authorization: ...`, `'Cookie': '...'`, `X-Amz-...: ...`;
# only where a header name can start (not `s3://b/session-data: ...`).
_HEADER = re.compile(
    r"(?<![^\s'\"{,(])(?P<name>(?:proxy-)?authorization|(?:set-)?cookie|x-(?:amz|goog)-[\w-]+"
    r"|[A-Za-z]+(?:-[A-Za-z]+)+)"
    r"(?P<sep>['\"]?[ \t]*:[ \t]*(?P<quote>['\"]?))(?P<value>[^'\"\r\n]+)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\b(?P<scheme>Bearer)(?P<space>\s+)(?!REDACTED)[A-Za-z0-9._~+/=-]+")
# Basic: only a base64 run with a digit, one of +/= or an inner capital ("Basic checks",
# "Basic Auth" stay).
_BASIC = re.compile(
    r"\b(?P<scheme>Basic)(?P<space>\s+)(?=[0-9+/]|[A-Za-z0-9+/]+[0-9+/=A-Z])[A-Za-z0-9+/]{6,}={0,2}"
)
# `"name": "value"` (JSON, a Python dict's repr).
_QUOTED_PAIR = re.compile(
    r"(?P<q1>['\"])(?P<name>[^'\"\s]{1,80})(?P=q1)(?P<sep>\s*:\s*)"
    r"(?P<q2>['\"])(?P<value>[^'\"]*)(?P=q2)"
)
# `name=value` anywhere: URL queries and fragments, AWS's `Credential=...,Signature=...`.
# Only the name is matched here, so a harmless pair whose value is a whole URL
# (`url='https://...?X-Amz-Signature=...'`) does not hide the pairs inside it.
_PAIR_NAME = re.compile(r"(?<![\w.%-])(?P<name>[A-Za-z_][\w.%-]{0,79})=")
_PAIR_VALUE = re.compile(
    r"(?P<quote>['\"])(?P<quoted>[^'\"\r\n]*)(?P=quote)|(?P<bare>[^&\s,;#'\"<>\\()\[\]{}]+)"
)
_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{12,}\b")


def is_secret_name(name: str) -> bool:
    """True when ``name`` (a parameter, field or header name) looks like a credential:
    split into words on ``-``, ``_``, ``.`` and camelCase, one word is a secret word
    (``token``, ``key``, ``sig``...), or it starts with ``x-amz-``/``x-goog-``."""
    lowered = name.strip().lower()
    if lowered in _NOT_SECRET:
        return False
    if lowered.startswith(_SECRET_PREFIXES):
        return True
    words = (w.lower() for part in _SEPARATORS.split(name) for w in _CAMEL_WORDS.findall(part))
    return any(w in _SECRET_WORDS or w.endswith(_SECRET_SUFFIXES) for w in words)


def _secret_param(piece: str) -> bool:
    name, sep, _ = piece.partition("=")
    return bool(sep) and is_secret_name(unquote_plus(name))


def _redact_params(text: str) -> str:
    """A query or fragment with the values of secret parameters replaced; every other
    parameter is kept exactly as written (its encoding too)."""
    return "&".join(
        f"{piece.partition('=')[0]}={REDACTED}" if _secret_param(piece) else piece
        for piece in text.split("&")
    )


def redact_url(url: str) -> str:
    """``url`` without user info and without the values of secret query or fragment
    parameters (presigned URLs, ``#access_token=``): what may be stored, logged, shown."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL after all (a bad IPv6 host): redact it as text
        return redact(url)
    netloc = parts.netloc.rpartition("@")[2]
    query, fragment = _redact_params(parts.query), _redact_params(parts.fragment)
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def has_secrets(url: str) -> bool:
    """True if ``url`` holds user info or a query or fragment parameter that looks like
    a credential."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url) != url
    if "@" in parts.netloc:
        return True
    pieces = [*parts.query.split("&"), *parts.fragment.split("&")]
    return any(_secret_param(piece) for piece in pieces)


def _header(m: re.Match[str]) -> str:
    name = m.group("name")
    if not (is_secret_name(name) or name.lower() in ("cookie", "set-cookie")):
        return m.group(0)
    return f"{name}{m.group('sep')}{REDACTED}"


def _quoted_pair(m: re.Match[str]) -> str:
    if not m.group("value") or not is_secret_name(m.group("name")):
        return m.group(0)
    q1, q2 = m.group("q1"), m.group("q2")
    return f"{q1}{m.group('name')}{q1}{m.group('sep')}{q2}{REDACTED}{q2}"


def _redact_pairs(text: str) -> str:
    out, done = [], 0
    for name in _PAIR_NAME.finditer(text):
        if name.start() < done or not is_secret_name(unquote_plus(name.group("name"))):
            continue
        value = _PAIR_VALUE.match(text, name.end())
        if value is None:
            continue
        group = "quoted" if value.group("quote") else "bare"
        start, end = value.span(group)
        # A colon right after a bare value ends a sentence ("...&token=X: 503"): keep it.
        if group == "bare" and text[end - 1] == ":":
            end -= 1
        if text[start:end] in ("", REDACTED):
            continue
        out += [text[done:start], REDACTED]
        done = end
    return "".join([*out, text[done:]])


def redact(text: str) -> str:
    """``text`` with every secret this module recognises replaced by ``REDACTED``.

    Idempotent, and meant for anything printed or logged: messages, hints, library
    exception texts, whole tracebacks.
    """
    text = _USER_INFO.sub(r"\g<scheme>", text)
    text = _HEADER.sub(_header, text)
    text = _BEARER.sub(rf"\g<scheme>\g<space>{REDACTED}", text)
    text = _BASIC.sub(rf"\g<scheme>\g<space>{REDACTED}", text)
    text = _QUOTED_PAIR.sub(_quoted_pair, text)
    text = _redact_pairs(text)
    return _AWS_KEY_ID.sub(REDACTED, text)


def clean_cause(exc: BaseException) -> BaseException | None:
    """``exc`` if it may be chained as the cause of one of our errors, else None: when
    the text of any exception in its chain holds a secret, a Python traceback would
    print it, so the chain is dropped (our own message already says what failed)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        text = str(current)
        if redact(text) != text:
            return None
        current = current.__cause__ or current.__context__
    return exc


def format_exception(exc: BaseException) -> str:
    """The traceback Python would print for ``exc``, redacted."""
    return redact("".join(traceback.format_exception(exc)))


class RedactingFilter(logging.Filter):
    """Redacts each record that passes a handler: its message, arguments, traceback and
    stack (a retry's debug line quotes the library's exception, URL and all)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging would report it; keep it safe
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
