"""Endpoint URLs and the credentials they may carry: a URL's ``user:password@`` is never printed nor stored.

A password holding ``@`` parses by its last ``@``; one holding an unencoded ``/`` cannot be told from a path, so such
a URL is refused (without echoing it) and the fix named: percent-encode the user name and password.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from nbrunner.errors import UsageError

# a URL's scheme, then everything up to its last "@" before whitespace: whatever userinfo it holds, however odd
_USERINFO = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^\s]*@")


def without_credentials(text: str) -> str:
    """``text`` with the userinfo of every URL in it removed (up to the last ``@`` of the URL, so a password with
    ``@`` or ``/`` in it goes too)."""
    return _USERINFO.sub(r"\1", text)


def check_endpoint(url: str, *, option: str = "--endpoint-url") -> str:
    """An S3 endpoint as ``http(s)://host[:port][/path]``; a UsageError (exit 2) that never shows the URL's
    userinfo otherwise. Returns the URL unchanged."""
    shown = without_credentials(url)
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
    except ValueError as e:
        raise UsageError(f"{option} {without_credentials(url)!r}: {e}; {fix}") from None
    if not parts.hostname:
        raise UsageError(f"{option} {shown!r} names no host; {fix}")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise UsageError(f"{option} {shown!r} has a space or a control character; {fix}")
    return url
