"""nbrunner's IPython magics, ``%%spark`` and ``%%sql``: loaded in every nbrunner kernel, and by ``%load_ext nbrunner``
in any IPython (:mod:`nbrunner.magics.cells`); SQL cells read statically in :mod:`nbrunner.magics.markers`."""

from __future__ import annotations

from typing import Any


def load_ipython_extension(ip: Any) -> None:
    from nbrunner.magics.cells import register

    register(ip)
