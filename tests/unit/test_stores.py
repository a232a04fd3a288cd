"""nbrunner.storage.base: ``locate`` through the registry (local paths, known and unknown schemes, S3's naming rules),
``Uri``, and ``Stores`` building each store once."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from nbrunner.config import StorageOptions
from nbrunner.core.location import Uri
from nbrunner.errors import ExitCode, UsageError
from nbrunner.storage import STORES, Stores, locate


def test_a_uri_is_scheme_bucket_and_key() -> None:
    uri = Uri("s3", "bucket", "a/b/report.ipynb")
    assert str(uri) == "s3://bucket/a/b/report.ipynb" and uri.name == "report.ipynb"
    assert uri.with_name("report.html") == Uri("s3", "bucket", "a/b/report.html")
    assert Uri("gs", "b", "top.ipynb").with_name("x") == Uri("gs", "b", "x")


@pytest.mark.parametrize("text", ["report.ipynb", "out/{notebook}.ipynb", "/abs/path.ipynb", "s3:/not-a-url"])
def test_anything_without_a_scheme_is_a_local_path(text: str) -> None:
    assert locate(text, what="notebook") == Path(text)


def test_s3_and_s3a_name_the_same_objects() -> None:
    assert locate("s3://reports/daily/x.ipynb", what="output") == Uri("s3", "reports", "daily/x.ipynb")
    assert locate("s3a://reports/daily/x.ipynb", what="output") == Uri("s3", "reports", "daily/x.ipynb")


@pytest.mark.parametrize("text", ["ftp://namenode/nb.ipynb", "S3://bucket/nb.ipynb", "http://host/nb.ipynb"])
def test_an_unknown_scheme_is_a_usage_error_naming_the_supported_ones(text: str) -> None:
    with pytest.raises(UsageError) as raised:
        locate(text, what="notebook")
    scheme = text.split("://")[0]
    assert str(raised.value) == (f"notebook {text!r}: {scheme}:// is not supported; use a local path or one of "
                                 "abfs://, abfss://, az://, gs://, hdfs://, s3://, s3a://, viewfs://")  # fmt: skip
    assert raised.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("s3://Bad_Bucket/x.ipynb", "'Bad_Bucket' is not a valid bucket name"),
        ("s3://ab/x.ipynb", "'ab' is not a valid bucket name"),
        ("s3://bucket", "no object key after the bucket"),
        ("s3://bucket/folder/", "no object key after the bucket"),
        ("s3://bucket//x.ipynb", "the key has an empty, '.' or '..' segment"),
        ("s3://bucket/a/../x.ipynb", "the key has an empty, '.' or '..' segment"),
    ],
)
def test_s3s_naming_rules_apply_through_the_registry(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        locate(text, what="notebook")


def test_an_s3_output_key_leaves_room_for_the_record_beside_it() -> None:
    with pytest.raises(UsageError, match="the S3 key is longer than 1024 bytes"):
        locate("s3://bucket/" + "x" * 1010 + ".ipynb", what="output")
    assert locate("s3://bucket/" + "x" * 990 + ".ipynb", what="output") == Uri("s3", "bucket", "x" * 990 + ".ipynb")


def test_a_prefix_may_be_a_bucket_alone_or_end_in_a_slash() -> None:
    assert locate("s3://bucket", what="runs", prefix=True) == Uri("s3", "bucket", "")
    assert locate("s3a://bucket/runs/", what="runs", prefix=True) == Uri("s3", "bucket", "runs/")
    with pytest.raises(UsageError, match="write s3://BUCKET/PREFIX"):
        locate("s3://B/runs/", what="runs", prefix=True)


class Counted:
    """A store class that counts how often it is built (only connect is called here)."""

    built: list[StorageOptions] = []

    @classmethod
    def connect(cls, options: StorageOptions, environ: Any) -> Any:
        cls.built.append(options)
        return cls()

    @classmethod
    def check_uri(cls, uri: Uri, what: str, *, prefix: bool = False) -> Uri:
        return uri


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> type[Counted]:
    monkeypatch.setitem(STORES, "cnt", f"{__name__}:Counted")
    monkeypatch.setitem(STORES, "cnta", f"{__name__}:Counted")
    Counted.built = []
    return Counted


def test_a_registered_scheme_is_located_by_its_own_store(counted: type[Counted]) -> None:
    assert locate("cnt://any_Bucket/k", what="notebook") == Uri("cnt", "any_Bucket", "k")
    assert counted.built == []  # locating builds no store


def test_stores_build_each_store_once_on_first_use_across_threads(counted: type[Counted]) -> None:
    options = StorageOptions(timeout=12.0)
    stores = Stores(options)
    assert counted.built == []
    found: list[Any] = []
    threads = [threading.Thread(target=lambda: found.append(stores.of(Uri("cnt", "b", "k")))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    found.append(stores.of(Uri("cnta", "b", "k")))  # another scheme of the same store class: the same store
    assert counted.built == [options] and len({id(store) for store in found}) == 1


def test_a_uri_of_no_registered_scheme_has_no_store() -> None:
    with pytest.raises(UsageError, match="ftp:// is not supported"):
        Stores(StorageOptions()).of(Uri("ftp", "b", "k"))


def test_a_hadoop_error_is_definitive_by_what_it_says_of_the_target_not_of_this_host() -> None:
    from nbrunner.storage.hdfs import definitive

    this_host_unresolvable = RuntimeError(
        "java.net.ConnectException: Call From java.net.UnknownHostException: box-7f: box-7f: Name or service not "
        "known to localhost:47439 failed on connection exception: java.net.ConnectException: Connection refused"
    )
    assert not definitive(this_host_unresolvable)  # the namenode is merely down: run, keep the local copy
    assert not definitive(RuntimeError("java.net.ConnectException: Call From box/10.0.0.7 to nn:8020 failed"))
    assert definitive(RuntimeError("java.lang.IllegalArgumentException: java.net.UnknownHostException: no-such-nn"))
    assert definitive(RuntimeError("org.apache.hadoop.security.AccessControlException: Permission denied: user=x"))
    assert definitive(RuntimeError("org.apache.hadoop.fs.UnsupportedFileSystemException: No FileSystem for scheme"))
