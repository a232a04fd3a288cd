"""Endpoint URLs and the credentials they may carry: a URL's ``user:password@`` is never printed nor stored.

A password holding ``@`` parses by its last ``@``; one holding an unencoded ``/`` cannot be told from a path, so such
a URL is refused (without echoing it) and the fix named: percent-encode the user name and password.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from nbrunner.core.secret_values import SHOWN
from nbrunner.errors import UsageError

# a URL's scheme, then everything up to its last "@" before whitespace: whatever userinfo it holds, however odd
_USERINFO = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^\s]*@")


def without_credentials(text: str) -> str:
    """``text`` with the userinfo of every URL in it removed (up to the last ``@`` of the URL, so a password with
    ``@`` or ``/`` in it goes too)."""
    return _USERINFO.sub(r"\1", text)


#: URL parameters whose values are shown in messages; any other value may be a credential and is masked
SHOWN_PARAMETERS = frozenset({"use_ssl", "user_agent", "session_id", "user_id", "grpc_max_message_size"})
MASK = SHOWN  # as a secret parameter is shown


def masked(url: str, *, path: bool = True) -> str:
    """``url`` as every message shows it: no userinfo, and each parameter (``;key=value`` as Spark Connect writes
    them, ``?key=value&...`` of a query, ``#...``, ``key=value`` in the path) with its value masked unless its key
    is one of :data:`SHOWN_PARAMETERS`; a parameter without ``=`` (a token pasted bare) is masked whole. Scheme,
    host and port are kept, so the message still says which address it means; the path too, unless ``path`` is
    False (where a URL has no path, what stands there may be anything): then it shows as ``/...``."""
    text = without_credentials(url)
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    parts = re.split(r"([;?&#])", rest)
    authority, slash, where = parts[0].partition("/")
    if not path and where:
        where = "..."
    segments = [seg.partition("=")[0] + f"={MASK}" if "=" in seg else seg for seg in where.split("/")]
    out = [authority + slash + "/".join(segments)]
    for separator, part in zip(parts[1::2], parts[2::2], strict=True):
        key, eq, _ = part.partition("=")
        if not part:
            shown = ""
        elif not eq:
            shown = MASK
        else:
            shown = part if key.strip().lower() in SHOWN_PARAMETERS else f"{key}={MASK}"
        out += [separator, shown]
    return f"{scheme}{sep}{''.join(out)}"


def check_endpoint(url: str, *, option: str = "--endpoint-url") -> str:
    """An S3 endpoint as ``http(s)://host[:port][/path]``; a UsageError (exit 2) that never shows the URL's
    userinfo otherwise. Returns the URL unchanged."""
    shown = masked(url)
    fix = f"write {option} http(s)://host[:port]"
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        raise UsageError(f"{option} {shown!r} is not an http(s) URL; {fix}")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in rest[len(authority) :]:
        raise UsageError(
            f"{option}: the URL has an '@' after a '/', '?' or '#' (a password with an unencoded '/'?); "
            "percent-encode the user name and password (%2F for '/', %40 for '@'), or use AWS credentials instead"
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        # the error's own text may quote the port, and what follows it there (a token): never shown
        raise UsageError(
            f"{option} {shown!r}: its host or port cannot be read (a port is a number from 0 to 65535, an IPv6 "
            f"address stands in brackets); {fix}"
        ) from None
    if not parts.hostname:
        raise UsageError(f"{option} {shown!r} names no host; {fix}")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise UsageError(f"{option} {shown!r} has a space or a control character; {fix}")
    return url
