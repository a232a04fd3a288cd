"""urls: userinfo never shown, however odd the password; unparseable endpoints refused without echoing them."""

from __future__ import annotations

import pytest

from nbrunner.core.urls import check_endpoint, without_credentials
from nbrunner.errors import UsageError


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("http://admin:p@ss@host:9000/x", "http://host:9000/x"),
        ("cannot reach https://u:pa/ss@host now", "cannot reach https://host now"),
        ("http://host:9000", "http://host:9000"),
        ("two http://a:b@h1 and s3://c:d@h2/k", "two http://h1 and s3://h2/k"),
    ],
)
def test_without_credentials(text: str, shown: str) -> None:
    assert without_credentials(text) == shown


@pytest.mark.parametrize("url", ["http://admin:pa/ss@host", "http://admin:x@host/p@th", "ftp://u:secretpw@h",
                                 "http://u:secretpw@host:notaport", "http://u:secretpw@"])  # fmt: skip
def test_bad_endpoints_are_refused_without_userinfo(url: str) -> None:
    with pytest.raises(UsageError) as refused:
        check_endpoint(url)
    assert "secretpw" not in str(refused.value) and "pa/ss" not in str(refused.value)
    assert "admin" not in str(refused.value)


def test_good_endpoints_pass() -> None:
    for url in ("http://127.0.0.1:9000", "https://s3.internal.example/", "http://u:p%40ss@host:1"):
        assert check_endpoint(url) == url
