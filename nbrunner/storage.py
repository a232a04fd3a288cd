"""Object storage through boto3: read s3:// inputs, store s3:// outputs, checkpoint long runs.

botocore's errors are translated here, and only here, into one-line UsageError (inputs, exit 2) or StorageError
(outputs, exit 8) naming the bucket and key and the likely fix.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from nbrunner.config import StorageOptions
from nbrunner.errors import NbrunnerError, StorageError, UsageError
from nbrunner.location import Artifacts, S3Uri, artifacts

CONTENT_TYPES = {".ipynb": "application/x-ipynb+json", ".html": "text/html; charset=utf-8", ".json": "application/json"}


def endpoint(options: StorageOptions) -> str | None:
    """The S3 endpoint in force: the option, else the standard AWS variables (None: AWS itself)."""
    return options.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


def client(options: StorageOptions) -> Any:
    """An S3 client on the standard credential chain, with botocore's standard retry mode (backoff, 5 tries)."""
    import boto3
    from botocore.config import Config

    url = endpoint(options)
    config = Config(
        retries={"mode": os.environ.get("AWS_RETRY_MODE", "standard"), "max_attempts": 5},
        connect_timeout=10,
        read_timeout=60,
        # S3-compatible stores (MinIO, Ceph RGW, ...) generally want path-style addressing
        s3={"addressing_style": "path"} if url else {},
    )
    return boto3.session.Session().client("s3", endpoint_url=url, config=config)


def explain(error: BaseException, uri: S3Uri, options: StorageOptions, action: str) -> str:
    """A one-line account of a boto3 failure, with the likely fix."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    # boto3's upload_file wraps the ClientError in S3UploadFailedError, raised while handling it
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, ClientError):
        cause = cause.__cause__ or cause.__context__
    if cause is not None:
        error = cause
    where = endpoint(options) or "AWS S3"
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return f"cannot {action} {uri}: no AWS credentials found; set AWS_ACCESS_KEY_ID and friends, or AWS_PROFILE"
    if isinstance(error, EndpointConnectionError):
        return f"cannot {action} {uri}: the endpoint {where} is unreachable; check --endpoint-url / AWS_ENDPOINT_URL"
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("NoSuchBucket",) or (code == "404" and action == "store results in"):
            return f"cannot {action} {uri}: bucket {uri.bucket!r} does not exist at {where}; create it or fix the name"
        if code in ("NoSuchKey", "404", "NotFound"):
            return f"cannot {action} {uri}: no object {uri.key!r} in bucket {uri.bucket!r}; check the key"
        if code in ("AccessDenied", "403", "AllAccessDisabled") or status == 403:
            return f"cannot {action} {uri}: access denied; the credentials in use need s3 permissions on {uri.bucket}"
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"):
            return (
                f"cannot {action} {uri}: the credentials were refused ({code}); check AWS_ACCESS_KEY_ID / AWS_PROFILE"
            )
        message = error.response.get("Error", {}).get("Message", "")
        return f"cannot {action} {uri}: {code or status} {message}".strip()
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    return f"cannot {action} {uri}: {first}"


def read_bytes(uri: S3Uri, options: StorageOptions) -> bytes:
    """An s3:// input (notebook or parameters file); any failure is a UsageError (exit 2)."""
    try:
        response = client(options).get_object(Bucket=uri.bucket, Key=uri.key)
        return bytes(response["Body"].read())
    except NbrunnerError:
        raise
    except Exception as e:
        raise UsageError(explain(e, uri, options, "read")) from e


def preflight(target: S3Uri, options: StorageOptions) -> None:
    """Fail fast (exit 8, before any kernel starts) when the output bucket surely cannot take the results.

    Only definitive answers stop the run: no such bucket, refused credentials. Anything else (403 from a policy that
    allows PutObject but not ListBucket, a transient network error) lets the run go on; storing decides at the end.
    """
    from botocore.exceptions import ClientError, NoCredentialsError

    try:
        client(options).head_bucket(Bucket=target.bucket)
    except ClientError as e:
        code = str(e.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchBucket", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"):
            raise StorageError(explain(e, target, options, "store results in")) from e
    except NoCredentialsError as e:
        raise StorageError(explain(e, target, options, "store results in")) from e
    except Exception:  # noqa: S110 - not definitive: the final store will say
        pass


def spool_artifacts(targets: Artifacts, run_id: str, options: StorageOptions) -> Artifacts:
    """Where the local copy of an s3:// output is written first: a folder of its own in the spool."""
    assert isinstance(targets.notebook, S3Uri)  # noqa: S101 - called for s3:// outputs only
    root = Path(options.spool) if options.spool else Path(tempfile.gettempdir()) / "nbrunner-spool"
    folder = root / run_id
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--spool {root}: cannot create the spool folder: {e.strerror or e}") from e
    return artifacts(folder / targets.notebook.name)


def extra_args(options: StorageOptions, suffix: str, metadata: dict[str, str]) -> dict[str, Any]:
    args: dict[str, Any] = {"ContentType": CONTENT_TYPES.get(suffix, "application/octet-stream"), "Metadata": metadata}
    if options.sse:
        args["ServerSideEncryption"] = options.sse
    if options.kms_key_id:
        args["SSEKMSKeyId"] = options.kms_key_id
    if options.acl:
        args["ACL"] = options.acl
    return args


def upload(s3: Any, path: Path, uri: S3Uri, options: StorageOptions, metadata: dict[str, str]) -> None:
    """One file to one object; s3transfer goes multipart above its threshold (8 MiB)."""
    try:
        s3.upload_file(str(path), uri.bucket, uri.key, ExtraArgs=extra_args(options, path.suffix, metadata))
    except Exception as e:
        raise StorageError(explain(e, uri, options, "store")) from e


def store(local: Artifacts, targets: Artifacts, record: Any, options: StorageOptions, *, stderr: IO[str]) -> None:
    """Upload the notebook, its HTML and the run record, the record last; then remove the local copy."""
    s3 = client(options)
    metadata = {"nbrunner-run-id": str(record.run_id), "nbrunner-status": str(record.status)}
    pairs = [(local.notebook, targets.notebook), (local.html, targets.html), (local.record, targets.record)]
    for path, uri in pairs:
        assert isinstance(path, Path) and isinstance(uri, S3Uri)  # noqa: S101 - spool paths and s3:// targets
        if path.exists():
            upload(s3, path, uri, options, metadata)
    assert isinstance(local.notebook, Path)  # noqa: S101
    shutil.rmtree(local.notebook.parent, ignore_errors=True)
    print(f"nbrunner: stored {targets.notebook}", file=stderr, flush=True)


class Checkpointer:
    """Uploads the partial notebook of a long run at most every ``every`` seconds, off the main thread.

    :meth:`maybe` is called from the engine on cell boundaries and outputs; it takes a snapshot there (where the
    notebook is consistent) and hands it to one uploader thread. A failed checkpoint only warns: the final store
    decides the exit code.
    """

    def __init__(self, target: S3Uri, options: StorageOptions, snapshot: Callable[[], Path], stderr: IO[str]):
        self.target = target
        self.options = options
        self.every = options.checkpoint_every
        self.snapshot = snapshot
        self.stderr = stderr
        self.last = time.monotonic()
        self.uploads = 0
        self._busy = threading.Lock()
        self._client: Any = None

    def maybe(self) -> None:
        if self.every <= 0 or time.monotonic() - self.last < self.every:
            return
        if not self._busy.acquire(blocking=False):
            return  # the previous checkpoint is still uploading
        self.last = time.monotonic()
        try:
            path = self.snapshot()
        except Exception as e:
            self._busy.release()
            print(f"nbrunner: warning: checkpoint: could not write the partial notebook: {e}", file=self.stderr)
            return
        threading.Thread(target=self._upload, args=(path,), name="nbrunner-checkpoint", daemon=True).start()

    def _upload(self, path: Path) -> None:
        try:
            if self._client is None:
                self._client = client(self.options)
            args = extra_args(self.options, ".ipynb", {"nbrunner-status": "running"})
            self._client.upload_file(str(path), self.target.bucket, self.target.key, ExtraArgs=args)
            self.uploads += 1
        except Exception as e:
            print(f"nbrunner: warning: checkpoint: {explain(e, self.target, self.options, 'store')}", file=self.stderr)
        finally:
            self._busy.release()

    def wait(self, timeout: float = 30.0) -> None:
        """Let an upload in flight finish, so it cannot land after the final one."""
        if self._busy.acquire(timeout=timeout):
            self._busy.release()
