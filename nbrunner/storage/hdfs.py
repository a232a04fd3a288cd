"""``hdfs://`` (and ``viewfs://``) through the Spark driver JVM's own Hadoop client: a
:class:`~nbrunner.storage.base.Store`.

Why the driver JVM and not pyarrow's ``HadoopFileSystem``: under spark-submit the JVM already holds the cluster's
Hadoop client, its configuration (``HADOOP_CONF_DIR``, ``spark.hadoop.*``) and its Kerberos login (``--principal``,
``--keytab``, a delegation token on YARN); nbrunner reaches it over its own Py4J connection with nothing installed,
where pyarrow would need libhdfs, a ``CLASSPATH`` of Hadoop's jars and a second JVM in nbrunner's process. So
``hdfs://`` works under spark-submit only; elsewhere it is exit 2 in one line.

``hdfs://NAMENODE:PORT/path`` names a cluster, ``hdfs:///path`` the configuration's default file system. There are no
buckets: the "bucket" is the authority (possibly empty) and the key the path. Hadoop's errors are translated here,
and only here, into one-line UsageError (inputs, exit 2) or StorageError (outputs, exit 8).
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbrunner.config import StorageOptions
from nbrunner.core.location import Uri
from nbrunner.core.urls import without_credentials
from nbrunner.errors import StorageError, UsageError
from nbrunner.storage.base import bounded, first_line, stored

_AUTHORITY = re.compile(r"^[A-Za-z0-9._-]*(:[0-9]{1,5})?$")

#: Hadoop's exceptions that say the target surely cannot be reached or written (exit 8 before the run)
DEFINITIVE = ("UnknownHostException", "AccessControlException", "UnsupportedFileSystemException",
              "No FileSystem for scheme")  # fmt: skip


def definitive(error: BaseException) -> bool:
    """Whether a Hadoop client's error says the target can never work (no such namenode, access refused, no file
    system for the scheme), not that it does not answer now. Hadoop's "Call From <this host> to <namenode>" names
    this host as it resolves it: where this host's own name does not resolve, that part reads
    ``java.net.UnknownHostException: <name>``, which says nothing of the namenode."""
    text = re.sub(r"Call From .*? to ", "Call From this host to ", str(error))
    return any(marker in text for marker in DEFINITIVE)


class HadoopStore:
    """Every Hadoop FileSystem call of a run, on one Py4J connection to the driver JVM."""

    def __init__(self, client: Any, options: StorageOptions):
        self.client = client
        self.options = options
        self.where = "the Spark driver's Hadoop client"

    @classmethod
    def connect(cls, options: StorageOptions, environ: Mapping[str, str]) -> HadoopStore:
        """A Py4J connection to the driver JVM of the spark-submit that started nbrunner (from the run's
        ``environ``); UsageError (exit 2) outside spark-submit."""
        from nbrunner.core.py4j_client import GATEWAY_VARS, open_client, pinned, under_spark_submit

        if not under_spark_submit(environ):
            raise UsageError(
                "hdfs:// is read and written through the Spark driver JVM's Hadoop client (its configuration and "
                'Kerberos login apply): run nbrunner under spark-submit, spark-submit "$(nbrunner entrypoint)" run ...'
            )
        try:
            client = open_client(int(environ[GATEWAY_VARS[0]]), environ[GATEWAY_VARS[1]],
                                 pinned_thread=pinned(environ))  # fmt: skip
        except Exception as e:
            raise UsageError(f"hdfs://: cannot reach the Spark driver JVM ({first_line(e)})") from e
        return cls(client, options)

    @property
    def timeout(self) -> float:
        return self.options.timeout

    @classmethod
    def check_uri(cls, uri: Uri, what: str, *, prefix: bool = False) -> Uri:
        """An authority (``host:port``, or empty for the default file system) and an absolute path with no empty,
        '.' or '..' segment; no call to the cluster."""
        text = str(uri)
        if "@" in uri.bucket or not _AUTHORITY.match(uri.bucket):
            raise UsageError(f"{what} {without_credentials(text)!r}: write {uri.scheme}://NAMENODE:PORT/path or "
                             f"{uri.scheme}:///path (the default file system), with no user name")  # fmt: skip
        key = uri.key
        if not prefix and (not key or key.endswith("/") and what != "output"):
            raise UsageError(f"{what} {text!r}: no file name; write {uri.scheme}://{uri.bucket}/folder/name")
        if key.startswith("/") or "//" in key or "/./" in f"/{key}/" or "/../" in f"/{key}/" or "\n" in key:
            raise UsageError(f"{what} {text!r}: the path has an empty, '.' or '..' segment or a line break")
        return uri

    # the JVM side

    def _jvm(self) -> Any:
        return self.client.jvm

    def _conf(self) -> Any:
        """The live SparkContext's Hadoop configuration (the session's ``spark.hadoop.*`` included), else one made
        from the application's SparkConf as Spark makes it (before the context exists: reading the input)."""
        jvm = self._jvm()
        active = getattr(getattr(jvm.org.apache.spark, "SparkContext$"), "MODULE$").getActive()
        if active.isDefined():
            return active.get().hadoopConfiguration()
        return jvm.org.apache.spark.deploy.SparkHadoopUtil.get().newConfiguration(jvm.org.apache.spark.SparkConf())

    def _path(self, uri: Uri) -> tuple[Any, Any]:
        """(FileSystem, Path) of ``uri``."""
        path = self._jvm().org.apache.hadoop.fs.Path(str(uri))
        return path.getFileSystem(self._conf()), path

    def explain(self, error: BaseException, uri: Uri, action: str) -> str:
        """A one-line account of a Hadoop failure (the Java exception's own first line), never a credential."""
        text = str(error)
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        java = next((line.lstrip(": ") for line in lines if line.startswith(": ")), lines[0] if lines else "")
        return f"cannot {action} {uri}: {without_credentials(java)[:300] or type(error).__name__}"

    def read(self, uri: Uri) -> bytes:
        seconds = self.options.timeout

        def read_all() -> bytes:
            fs, path = self._path(uri)
            stream = fs.open(path)
            try:
                return bytes(stream.readAllBytes())
            finally:
                stream.close()

        try:
            return bounded(seconds, read_all)
        except TimeoutError as e:
            raise UsageError(f"cannot read {uri}: {self.where} gave {e}; check it or --store-timeout") from e
        except Exception as e:
            raise UsageError(self.explain(e, uri, "read")) from e

    def check_target(self, target: Uri) -> str | None:
        """Before the run: the file system answers for the target's folder. No such host, no file system for the
        scheme or access refused is a StorageError (exit 8); silence or another error a warning."""
        seconds = self.options.check_timeout

        def look() -> None:
            fs, path = self._path(target)
            fs.exists(path.getParent() or path)  # an answer at all: a missing folder is made when storing

        try:
            bounded(seconds, look)
        except TimeoutError as e:
            return f"{self.where} gave {e} about {target}; running anyway, storing will tell"
        except Exception as e:
            if definitive(e):
                raise StorageError(self.explain(e, target, "store results in")) from e
            return f"could not check {target} ({self.explain(e, target, 'check')}); running anyway"
        return None

    def put_file(self, path: Path, uri: Uri, metadata: dict[str, str], *, timeout: float) -> None:
        """One finished local file (this host: nbrunner runs in the driver) copied to ``uri``, replacing it; the
        metadata as ``user.*`` extended attributes where the file system keeps them."""

        def copy() -> None:
            fs, target = self._path(uri)
            fs.copyFromLocalFile(False, True, self._jvm().org.apache.hadoop.fs.Path(path.resolve().as_uri()), target)
            for name, value in metadata.items():
                try:
                    fs.setXAttr(target, f"user.{name}", bytearray(value.encode("utf-8")))
                except Exception:  # noqa: S110 - a file system without extended attributes (viewfs over file://)
                    break

        stored(uri, timeout, copy, where=self.where, timeout=self.options.timeout, explain=self.explain)

    def put_text(self, text: str, uri: Uri, *, suffix: str) -> None:
        data = bytearray(text.encode("utf-8", errors="xmlcharrefreplace"))

        def write() -> None:
            fs, target = self._path(uri)
            stream = fs.create(target, True)
            try:
                stream.write(data)
            finally:
                stream.close()

        stored(uri, self.options.timeout, write, where=self.where, timeout=self.options.timeout, explain=self.explain)

    def list(self, prefix: Uri, suffix: str) -> builtins.list[Uri]:
        """The files under the prefix's folder (recursively) whose names end in ``suffix``, within
        ``--store-timeout``."""
        seconds = self.options.timeout
        folder = prefix.key if not prefix.key or prefix.key.endswith("/") else prefix.key.rpartition("/")[0] + "/"

        def names() -> builtins.list[str]:
            fs, path = self._path(Uri(prefix.scheme, prefix.bucket, folder))
            if not fs.exists(path):
                return []
            found = []
            files = fs.listFiles(path, True)
            while files.hasNext():
                found.append(str(files.next().getPath().toUri().getPath()))
            return found

        try:
            listed = bounded(seconds, names)
        except Exception as e:
            raise UsageError(self.explain(e, prefix, "list")) from e
        keys = [name.lstrip("/") for name in listed]
        return [Uri(prefix.scheme, prefix.bucket, key) for key in keys
                if key.startswith(prefix.key) and key.endswith(suffix)]  # fmt: skip


if TYPE_CHECKING:  # HadoopStore is a Store: mypy says so here
    from nbrunner.storage.base import Store

    _STORE: type[Store] = HadoopStore
