"""Spark during a run: the session policy and the engine hooks that label, cancel and watch a cell's jobs.

Attaching to the driver JVM is :mod:`nbrunner.gateway` (a top-level file by design)."""
