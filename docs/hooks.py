"""MkDocs hook: the docstrings' Sphinx roles (``:func:`x```, ``:class:`~a.b.C```) shown as code, as Sphinx shows them.

mkdocstrings renders a docstring as Markdown, so a role comes out as ``:func:<code>x</code>``; this keeps the code
and drops the role (with ``~``, only the last name, as Sphinx does).
"""

from __future__ import annotations

import re
from typing import Any

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|data|attr|exc|obj):<code>(~?)([\w.]+)</code>")


def _code(match: re.Match[str]) -> str:
    name = match.group(2).rsplit(".", 1)[-1] if match.group(1) else match.group(2)
    return f"<code>{name}</code>"


def on_page_content(html: str, **kwargs: Any) -> str:
    return ROLE.sub(_code, html)
