"""nbrunner: run parameterized Jupyter notebooks unattended, under spark-submit, with results kept.

The Python API (see the README): :func:`run_notebook`, :func:`inspect_notebook`, :class:`RunRecord`, and the error
tree rooted at :class:`NbrunnerError`; inside a notebook: :func:`output`, :func:`skip`, :func:`secret`. Imported on
first use, so ``import nbrunner`` costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from nbrunner.api import NotebookInfo as NotebookInfo
    from nbrunner.api import inspect_notebook as inspect_notebook
    from nbrunner.api import run_notebook as run_notebook
    from nbrunner.config import SparkOptions as SparkOptions
    from nbrunner.config import StorageOptions as StorageOptions
    from nbrunner.core.record import RunRecord as RunRecord
    from nbrunner.core.report import LogReporter as LogReporter
    from nbrunner.core.report import Reporter as Reporter
    from nbrunner.core.report import StreamReporter as StreamReporter
    from nbrunner.errors import ExitCode as ExitCode
    from nbrunner.errors import NbrunnerError as NbrunnerError
    from nbrunner.inside import output as output
    from nbrunner.inside import secret as secret
    from nbrunner.inside import skip as skip

_EXPORTS = {
    "run_notebook": "nbrunner.api",
    "inspect_notebook": "nbrunner.api",
    "NotebookInfo": "nbrunner.api",
    "RunRecord": "nbrunner.core.record",
    "StorageOptions": "nbrunner.config",
    "SparkOptions": "nbrunner.config",
    "NbrunnerError": "nbrunner.errors",
    "ExitCode": "nbrunner.errors",
    "Reporter": "nbrunner.core.report",
    "LogReporter": "nbrunner.core.report",
    "StreamReporter": "nbrunner.core.report",
    "output": "nbrunner.inside",
    "skip": "nbrunner.inside",
    "secret": "nbrunner.inside",
}
__all__ = ["__version__", *_EXPORTS]


def load_ipython_extension(ip: Any) -> None:
    """``%load_ext nbrunner``: the ``%%spark`` and ``%%sql`` cell magics (:mod:`nbrunner.magics`)."""
    from nbrunner.magics import load_ipython_extension as load

    load(ip)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'nbrunner' has no attribute {name!r}")
