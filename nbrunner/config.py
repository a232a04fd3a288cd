"""The one frozen configuration of a run: what the command line (and environment) asked for."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class StorageOptions:
    endpoint_url: str | None = None
    sse: str | None = None  # "AES256" or "aws:kms"
    kms_key_id: str | None = None
    acl: str | None = None
    checkpoint_every: float = 300.0  # seconds between uploads of the partial notebook; 0: none
    spool: str | None = None  # folder for the local copy of s3:// outputs


@dataclass(frozen=True)
class SparkOptions:
    define_session: bool = True  # `spark` and `sc` predefined in the notebook under spark-submit


@dataclass(frozen=True)
class RunConfig:
    notebook: str
    output: str | None = None
    param_files: tuple[str, ...] = ()
    cli_params: tuple[tuple[str, str], ...] = ()  # ("-p" | "-r", "NAME=VALUE") in command-line order
    allow_undeclared: bool = False
    kernel: str | None = None
    cwd: str | None = None
    cell_timeout: float | None = None
    timeout: float | None = None
    start_timeout: float = 60.0
    log_output: bool = False
    progress: bool = True
    prepare_only: bool = False
    html: bool = True
    storage: StorageOptions = field(default_factory=StorageOptions)
    spark: SparkOptions = field(default_factory=SparkOptions)
