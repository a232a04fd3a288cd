"""``s3://`` (and ``s3a://``) through boto3: the one module that talks to botocore, a
:class:`~nbrunner.storage.base.Store`.

An :class:`S3Store` is built once per run from the options (the client is injected, as s3transfer does) and owns
every S3 call: reading s3:// inputs, checking the output bucket before the run, uploading results, listing a prefix.
botocore's errors are translated here, and only here, into one-line UsageError (inputs, exit 2) or StorageError
(outputs, exit 8) naming the bucket, the key and the likely fix.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbrunner.config import StorageOptions
from nbrunner.core.location import Uri, stem
from nbrunner.core.urls import check_endpoint, without_credentials
from nbrunner.errors import StorageError, UsageError
from nbrunner.storage.base import bounded, first_line, stored

# bucket naming rules (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html), relaxed to
# what S3-compatible stores accept too: 3-63 chars of lowercase letters, digits, dots, hyphens (and underscores)
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")
CONTENT_TYPES = {".ipynb": "application/x-ipynb+json", ".html": "text/html; charset=utf-8", ".json": "application/json"}


def endpoint(options: StorageOptions, environ: Mapping[str, str]) -> str | None:
    """The S3 endpoint in force: the option, else the standard AWS variables (None: AWS itself); checked as the
    option is (:func:`~nbrunner.core.urls.check_endpoint`), so a malformed one is refused before anything runs."""
    if options.endpoint_url:
        return options.endpoint_url
    for variable in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        if environ.get(variable):
            return check_endpoint(environ[variable], option=variable)
    return None


#: attempts per S3 call (the first included) unless AWS_MAX_ATTEMPTS or the profile's max_attempts says otherwise
DEFAULT_MAX_ATTEMPTS = 5


def retries(session: Any) -> dict[str, Any]:
    """botocore's retry settings: its own resolution of ``AWS_MAX_ATTEMPTS`` / ``AWS_RETRY_MODE`` (environment, then
    the profile's ``max_attempts`` / ``retry_mode``), with nbrunner's defaults only where neither says: the standard
    mode (backoff, throttling-aware), 5 attempts."""
    found: dict[str, Any] = {}
    if session.get_config_variable("max_attempts") is None:
        found["total_max_attempts"] = DEFAULT_MAX_ATTEMPTS
    if session.get_config_variable("retry_mode") is None:
        found["mode"] = "standard"
    return found


def make_client(options: StorageOptions, environ: Mapping[str, str]) -> Any:
    """An S3 client on the standard credential chain and retry settings (:func:`retries`).

    A malformed endpoint is a UsageError (exit 2), found here, before anything runs.
    """
    import boto3
    import botocore.session
    from botocore.config import Config

    url = endpoint(options, environ)
    core = botocore.session.get_session()
    config = Config(
        retries=retries(core) or None,
        connect_timeout=5,
        read_timeout=30,
        # S3-compatible stores (MinIO, Ceph RGW, ...) generally want path-style addressing
        s3={"addressing_style": "path"} if url else {},
    )
    try:
        return boto3.session.Session(botocore_session=core).client("s3", endpoint_url=url, config=config)
    except Exception as e:  # boto3 raises ValueError for a bad URL, botocore errors for a bad region or profile
        shown = without_credentials(url) if url else "the default endpoint"
        raise UsageError(
            f"cannot use S3 endpoint {shown}: {first_line(e)}; pass --endpoint-url http(s)://host[:port]"
        ) from e


class S3Store:
    """Every S3 call of a run, on one client: the store of ``s3://`` and ``s3a://``."""

    def __init__(self, client: Any, options: StorageOptions, environ: Mapping[str, str]):
        self.client = client
        self.options = options
        given = getattr(getattr(client, "meta", None), "endpoint_url", None)
        url = endpoint(options, environ) if options.client is None else given
        self.where = without_credentials(url) if url else "AWS S3"

    @classmethod
    def connect(cls, options: StorageOptions, environ: Mapping[str, str]) -> S3Store:
        """The run's store: on the caller's client when it gave one (``StorageOptions(client=...)``), else a new one
        (its endpoint from the option, else ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` in ``environ``)."""
        client = options.client if options.client is not None else make_client(options, environ)
        return cls(client, options, environ)

    @property
    def timeout(self) -> float:
        return self.options.timeout

    @classmethod
    def check_uri(cls, uri: Uri, what: str, *, prefix: bool = False) -> Uri:
        """S3's naming rules; ``s3a://`` (Hadoop's name) is the same object as ``s3://``."""
        bucket, key, text = uri.bucket, uri.key, str(uri)
        if not _BUCKET.match(bucket):
            form = "s3://BUCKET/PREFIX" if prefix else "s3://BUCKET/KEY"
            raise UsageError(
                f"{what} {text!r}: {bucket!r} is not a valid bucket name; write {form} with a bucket of "
                "3-63 lowercase letters, digits, dots or hyphens"
            )
        if prefix:
            return Uri("s3", bucket, key)
        if not key or key.endswith("/") and what != "output":
            raise UsageError(f"{what} {text!r}: no object key after the bucket; write s3://{bucket}/path/to/object")
        if key.startswith("/") or "//" in key or "/./" in f"/{key}" or "/../" in f"/{key}":
            raise UsageError(f"{what} {text!r}: the key has an empty, '.' or '..' segment; write s3://{bucket}/a/b")
        if what == "output":  # the longest sibling: the record, first written as a temporary file
            longest = uri.with_name(stem(uri) + ".run.json" + "." * 14)
            if len(longest.key.encode("utf-8")) > 1024:
                raise UsageError(f"output {text}: the S3 key is longer than 1024 bytes; shorten it")
        return Uri("s3", bucket, key)

    def explain(self, error: BaseException, uri: Uri, action: str) -> str:
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
        what = f"cannot {action} {uri}"
        if isinstance(error, NoCredentialsError | PartialCredentialsError):
            return f"{what}: no AWS credentials found; set AWS_ACCESS_KEY_ID and friends, or AWS_PROFILE"
        if isinstance(error, EndpointConnectionError):
            return f"{what}: the endpoint {self.where} is unreachable; check --endpoint-url / AWS_ENDPOINT_URL"
        if isinstance(error, ClientError):
            code = str(error.response.get("Error", {}).get("Code", ""))
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "NoSuchBucket" or (code == "404" and action == "store results in"):
                return f"{what}: bucket {uri.bucket!r} does not exist at {self.where}; create it or fix the name"
            if code in ("NoSuchKey", "404", "NotFound"):
                return f"{what}: no object {uri.key!r} in bucket {uri.bucket!r}; check the key"
            if code in ("AccessDenied", "403", "AllAccessDisabled") or status == 403:
                return f"{what}: access denied; the credentials in use need s3 permissions on {uri.bucket}"
            if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"):
                return f"{what}: the credentials were refused ({code}); check AWS_ACCESS_KEY_ID / AWS_PROFILE"
            message = error.response.get("Error", {}).get("Message", "")
            return f"{what}: {code or status} {message}".strip()
        return f"{what}: {without_credentials(first_line(error))}"

    def read(self, uri: Uri) -> bytes:
        """An s3:// input (notebook, parameters or chain file, record), within ``--store-timeout``; any failure is a
        UsageError."""

        def get() -> bytes:
            response = self.client.get_object(Bucket=uri.bucket, Key=uri.key)
            return bytes(response["Body"].read())

        try:
            return bounded(self.options.timeout, get)
        except TimeoutError as e:
            raise UsageError(f"cannot read {uri}: {self.where} gave {e}; check the endpoint or --store-timeout") from e
        except Exception as e:
            raise UsageError(self.explain(e, uri, "read")) from e

    def check_target(self, target: Uri) -> str | None:
        """Fail fast (exit 8, before any kernel starts) when the output bucket surely cannot take the results.

        Only definitive answers stop the run: no such bucket, refused credentials. Anything else (403 from a
        policy that allows PutObject but not ListBucket, a transient network error) lets the run go on; storing
        decides at the end, and so does an endpoint silent for ``--s3-check-timeout``: the warning is returned.
        A stop (signal) during the check is never swallowed.
        """
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            bounded(self.options.check_timeout, lambda: self.client.head_bucket(Bucket=target.bucket))
        except TimeoutError as e:
            return f"{self.where} gave {e} about bucket {target.bucket!r}; running anyway, storing will tell"
        except ClientError as e:
            code = str(e.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchBucket", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"):
                raise StorageError(self.explain(e, target, "store results in")) from e
        except NoCredentialsError as e:
            raise StorageError(self.explain(e, target, "store results in")) from e
        except BotoCoreError as e:  # not definitive (network, timeouts): the final store will say
            return f"could not check bucket {target.bucket!r} at {self.where} ({type(e).__name__}); running anyway"
        return None

    def put_text(self, text: str, uri: Uri, *, suffix: str) -> None:
        """A small text (an outputs file, an index page) to one object, within ``--store-timeout``."""
        import tempfile

        with tempfile.TemporaryDirectory(prefix="nbrunner-put-") as folder:
            local = Path(folder) / f"object{suffix}"
            local.write_text(text, encoding="utf-8", errors="xmlcharrefreplace")
            self.put_file(local, uri, {}, timeout=self.options.timeout)

    def put_file(self, path: Path, uri: Uri, metadata: dict[str, str], *, timeout: float) -> None:
        """One file to one object within ``timeout`` seconds; s3transfer goes multipart above its threshold."""
        args: dict[str, Any] = {
            "ContentType": CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
            "Metadata": metadata,
        }
        if self.options.sse:
            args["ServerSideEncryption"] = self.options.sse
        if self.options.kms_key_id:
            args["SSEKMSKeyId"] = self.options.kms_key_id
        if self.options.acl:
            args["ACL"] = self.options.acl
        from boto3.s3.transfer import TransferConfig

        # no s3transfer thread pool: its threads are joined at exit, which would outlast the timeout; the upload
        # (multipart above 8 MiB) runs on bounded()'s daemon thread instead
        transfer = TransferConfig(use_threads=False)
        upload = lambda: self.client.upload_file(str(path), uri.bucket, uri.key, ExtraArgs=args, Config=transfer)  # noqa: E731
        stored(uri, timeout, upload, where=self.where, timeout=self.options.timeout, explain=self.explain)

    def list(self, prefix: Uri, suffix: str) -> builtins.list[Uri]:
        """One listing of the prefix (paginated, within ``--store-timeout``), keeping the keys ending in ``suffix``."""

        def pages() -> builtins.list[dict[str, Any]]:
            paginator = self.client.get_paginator("list_objects_v2")
            return builtins.list(paginator.paginate(Bucket=prefix.bucket, Prefix=prefix.key))

        try:
            listed = bounded(self.options.timeout, pages)
        except Exception as e:
            raise UsageError(self.explain(e, prefix, "list")) from e
        keys = (str(item.get("Key", "")) for page in listed for item in page.get("Contents", []) or [])
        return [Uri("s3", prefix.bucket, key) for key in keys if key.endswith(suffix)]


if TYPE_CHECKING:  # S3Store is a Store: mypy says so here
    from nbrunner.storage.base import Store

    _STORE: type[Store] = S3Store
