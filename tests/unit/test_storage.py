"""storage: botocore's own resolution of AWS_MAX_ATTEMPTS / AWS_RETRY_MODE, nbrunner's defaults only where unset."""

from __future__ import annotations

import pytest

from nbrunner.config import StorageOptions
from nbrunner.storage.s3 import DEFAULT_MAX_ATTEMPTS, make_client


@pytest.fixture(autouse=True)
def no_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in ("AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", f"{tmp_path}/none")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def retry_settings() -> tuple[int, str]:
    client = make_client(StorageOptions(endpoint_url="http://127.0.0.1:9"), {})
    retries = client.meta.config.retries
    return retries["total_max_attempts"], retries["mode"]


def test_defaults_are_standard_mode_and_five_attempts() -> None:
    assert retry_settings() == (DEFAULT_MAX_ATTEMPTS, "standard")


def test_aws_max_attempts_and_retry_mode_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    assert retry_settings() == (2, "adaptive")


def test_the_profile_applies_too(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    path = f"{tmp_path}/config"
    with open(path, "w") as handle:
        handle.write("[default]\nmax_attempts = 9\nretry_mode = legacy\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", path)
    assert retry_settings() == (9, "legacy")


def test_a_client_of_the_callers_is_used_as_given() -> None:
    from nbrunner.storage.s3 import S3Store

    client = make_client(StorageOptions(endpoint_url="http://127.0.0.1:9"), {})
    store = S3Store.connect(StorageOptions(client=client), {})
    assert store.client is client and store.where == "http://127.0.0.1:9"
