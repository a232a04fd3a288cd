"""The naming rules of gs:// and abfs:// / abfss:// / az:// (storage/gcs.py, storage/azure.py): checked with no call
to a store."""

from __future__ import annotations

import re

import pytest

from nbrunner.core.location import Uri
from nbrunner.errors import UsageError
from nbrunner.storage import locate
from nbrunner.storage.azure import metadata_names, parts


@pytest.mark.parametrize(
    "text",
    ["gs://reports/daily/x.ipynb", "gs://my_bucket.example.com/x.ipynb", "abfs://reports/a/x.ipynb",
     "az://reports/x.ipynb", "abfss://reports@acct01.dfs.core.windows.net/a/x.ipynb"],
)  # fmt: skip
def test_well_formed_uris_are_kept_as_written(text: str) -> None:
    assert str(locate(text, what="output")) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gs://Bad_Bucket/x.ipynb", "'Bad_Bucket' is not a valid bucket name"),
        ("gs://ab/x.ipynb", "'ab' is not a valid bucket name"),
        ("gs://reports/", "no object name after the bucket"),
        ("gs://reports/a//x.ipynb", "an empty, '.' or '..' segment"),
        ("gs://reports/" + "k" * 1020 + ".ipynb", "longer than 1024 bytes"),
        ("abfs://Reports/x.ipynb", "is not a container"),
        ("az://re--ports/x.ipynb", "is not a container"),
        ("abfs://reports@Not_An_Account.dfs.core.windows.net/x.ipynb", "is not a container"),
        ("abfss://reports/../x.ipynb", "an empty, '.' or '..' segment"),
    ],
)
def test_malformed_uris_are_usage_errors_naming_the_form(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        locate(text, what="output")


def test_the_account_in_an_abfs_url_is_read_as_adlfs_and_hadoop_write_it() -> None:
    assert parts(Uri("abfs", "c@acct01.dfs.core.windows.net", "k")) == ("c", "acct01", "core.windows.net")
    assert parts(Uri("az", "c@acct01.blob.core.chinacloudapi.cn", "k")) == ("c", "acct01", "core.chinacloudapi.cn")
    assert parts(Uri("az", "c", "k")) == ("c", None, "core.windows.net")


def test_azure_metadata_names_are_identifiers() -> None:
    assert metadata_names({"nbrunner-run-id": "r", "nbrunner-status": "s"}) == {
        "nbrunner_run_id": "r",
        "nbrunner_status": "s",
    }
