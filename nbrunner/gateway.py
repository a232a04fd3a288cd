"""Spark: attach the notebook's kernel to the driver JVM that spark-submit started."""

from __future__ import annotations

from pathlib import Path


def launcher_path() -> Path:
    """The ``.py`` file spark-submit runs; it sits in a folder of its own and only calls the CLI."""
    return Path(__file__).resolve().parent / "launcher" / "nbrunner_main.py"
