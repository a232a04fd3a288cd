"""The one frozen configuration of a run: what the caller (the command line or the Python API) asked for."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nbrunner.errors import UsageError
from nbrunner.values import Given


def check_seconds(option: str, value: float | None, *, zero_ok: bool = False) -> None:
    """A duration option: a finite number of seconds, > 0 (or >= 0 where 0 means "never")."""
    if value is None:
        return
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise UsageError(f"{option} {value!r}: give a finite number of seconds, for example {option} 600")
    if value == 0 and not zero_ok:
        raise UsageError(f"{option} 0: give a number of seconds above 0, or leave the option out for no limit")


@dataclass(frozen=True)
class StorageOptions:
    """How a run uses its stores (:mod:`nbrunner.storage`): what every store takes (timeouts, the spool,
    checkpoints), then S3's own (endpoint, encryption, ACL, a client of the caller's)."""

    endpoint_url: str | None = None
    sse: str | None = None  # "AES256" or "aws:kms"
    kms_key_id: str | None = None
    acl: str | None = None
    checkpoint_every: float = 300.0  # seconds between uploads of the partial notebook; 0: none
    spool: str | None = None  # folder for the local copy of s3:// outputs
    # --store-timeout (--s3-timeout): seconds for reading an input, and for storing all results, retries included
    timeout: float = 300.0
    check_timeout: float = 10.0  # seconds for the output-bucket check before the run
    # a boto3 S3 client of the caller's (the Python API), used as given: its endpoint, credentials and retries
    client: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.endpoint_url is not None:
            from nbrunner.core.urls import check_endpoint

            check_endpoint(self.endpoint_url)
        check_seconds("--checkpoint-every", self.checkpoint_every, zero_ok=True)
        check_seconds("--store-timeout", self.timeout)
        check_seconds("--s3-check-timeout", self.check_timeout)


@dataclass(frozen=True)
class SparkOptions:
    """The engines' options (Spark under spark-submit, Spark Connect, Flink under flink run)."""

    define_session: bool = True  # `spark` and `sc` predefined in the notebook under spark-submit
    # create them from nbrunner's own connection while the kernel starts and imports pyspark (bench/RESULTS.md)
    early_context: bool = True
    # Spark Connect: sc://HOST:PORT[/;token=...;use_ssl=true] (else SPARK_REMOTE outside spark-submit)
    remote: str | None = field(default=None, repr=False)  # it may hold a token
    connect_timeout: float = 10.0  # seconds for the server check before the kernel starts
    # a for-each's iteration (its label): under spark-submit a session of its own, its jobs in the FAIR pool of that
    # name, and stop() a warning (nbrunner.run.foreach)
    iteration: str | None = None
    flink_mode: str = "batch"  # under flink run: t_env's runtime mode, "batch" or "streaming"

    def __post_init__(self) -> None:
        check_seconds("--remote-timeout", self.connect_timeout)
        if self.flink_mode not in ("batch", "streaming"):
            raise UsageError(f"--flink-mode {self.flink_mode!r}: give batch or streaming")


@dataclass(frozen=True)
class RunConfig:
    notebook: str
    output: str | None = None
    param_files: tuple[str, ...] = ()  # read first, in order
    parameters: tuple[Given, ...] = ()  # then these, in order: a later value wins
    allow_undeclared: bool = False
    allow_path_params: bool = False  # parameter values in -o may add sub-folders
    kernel: str | None = None
    cwd: str | None = None
    cell_timeout: float | None = None
    timeout: float | None = None
    start_timeout: float = 60.0
    prepare_only: bool = False
    resume: str | None = None  # a failed run's record: run again from its failed cell
    html: bool = True
    storage: StorageOptions = field(default_factory=StorageOptions)
    spark: SparkOptions = field(default_factory=SparkOptions)
    # the environment the run reads (secret env: references, NBRUNNER_OUTPUT, SPARK_REMOTE, the spark-submit
    # gateway) and the kernel inherits; None: this process's own
    environ: Mapping[str, str] | None = field(default=None, compare=False, repr=False)

    @property
    def env(self) -> Mapping[str, str]:
        return os.environ if self.environ is None else self.environ

    def __post_init__(self) -> None:
        check_seconds("--cell-timeout", self.cell_timeout)
        check_seconds("--timeout", self.timeout)
        check_seconds("--start-timeout", self.start_timeout)
