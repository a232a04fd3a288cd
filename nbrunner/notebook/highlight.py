"""The code cells' syntax highlighting in the HTML: nbconvert's ``highlight_code`` filter, at less cost.

nbconvert builds a new pygments HtmlFormatter (and its whole stylesheet) and a new lexer for every cell, and finds
the IPython lexer through ``IPython.lib.lexers``, importing IPython itself into the runner. Here one formatter and
one lexer per language serve every cell, and the IPython lexers come from ``ipython_pygments_lexers``, where IPython
9 keeps them, and only for cells that use IPython's own syntax (:func:`lexer_for`). The HTML is the same as
nbconvert's (``tests/test_render.py`` compares them).
"""

from __future__ import annotations

import re
import warnings
from html import escape
from typing import Any

#: what the IPython 3 lexer's own rules (magics, shell escapes, ``?`` help) all need: a ``%``, a ``?``, or a ``!``
#: other than in ``!=``. A cell without any is tokenized exactly as Python's lexer tokenizes it, so it is: the
#: IPython lexer, and the nine lexers of other languages it names, are then never imported (about 0.1 CPU-s)
IPYTHON_SYNTAX = re.compile(r"[%?]|!(?!=)")


def lexer_for(language: str, source: str) -> str:
    """The lexer to highlight ``source`` with, for a cell in ``language``: Python's for IPython 3 code that uses
    none of IPython's own syntax (the same tokens), else the language's own."""
    if language == "ipython3" and IPYTHON_SYNTAX.search(source) is None:
        return "python3"
    return language


def _new_lexer(language: str) -> Any:
    """The pygments lexer nbconvert's ``_pygments_highlight`` picks for ``language``."""
    if language in ("ipython2", "ipython3"):
        try:
            import ipython_pygments_lexers as lexers  # type: ignore[import-untyped]
        except ImportError:  # IPython 8 has them itself
            from IPython.lib import lexers
        return lexers.IPython3Lexer() if language == "ipython3" else lexers.IPythonLexer()
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        return get_lexer_by_name(language)
    except ClassNotFound:
        warnings.warn(f"No lexer found for language {language!r}. Treating as plain text.", stacklevel=3)
        from pygments.lexers.special import TextLexer

        return TextLexer()


def cached_highlighter(parent: Any) -> Any:
    """nbconvert's highlight_code filter with one HtmlFormatter and one lexer per language; the notebook's language
    is set on it (``pygments_lexer``) before each rendering. None if nbconvert's filter moved."""
    try:
        from nbconvert.filters.highlight import Highlight2HTML
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
    except ImportError:
        return None
    formatters: dict[str, Any] = {}
    lexers: dict[str, Any] = {}

    class CachedHighlight2HTML(Highlight2HTML):
        def __call__(self, source: str, language: str | None = None, metadata: Any = None) -> Any:
            language = language or self.pygments_lexer
            formatter = formatters.get(language)
            if formatter is None:
                css = escape(f"highlight hl-{language}")  # nbconvert writes " highlight", its soup pass trims it
                formatter = formatters[language] = HtmlFormatter(cssclass=css, **self.extra_formatter_options)
            if language.startswith("ipython") and metadata and "magics_language" in metadata:
                language = metadata["magics_language"]  # a %%bash cell is highlighted as bash, as nbconvert does
            language = lexer_for(language, source)
            lexer = lexers.get(language)
            if lexer is None:
                lexer = lexers[language] = _new_lexer(language)
            return highlight(source if len(source) > 0 else " ", lexer, formatter)

    return CachedHighlight2HTML(pygments_lexer=None, parent=parent)  # type: ignore[no-untyped-call]
