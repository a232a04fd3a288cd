"""Spark Connect (``--remote sc://...``): the session, its hooks during a run, and the code run in the kernel."""
