from __future__ import annotations

import posixpath
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.proxy_paths import PathRefused, front_path, front_query, front_url

BASE = "https://api2.frontapp.com"

REFUSED = [
    "",
    "/etc/passwd",
    "//evil.example/x",
    "http://evil.example/x",
    "https:evil.example",
    "..",
    "../admin",
    "me/../../x",
    "me/./x",
    "me//x",
    "...",
    "me\\..\\x",
    "%2e%2e/x",
    "%2E%2E%2Fx",
    "me%2f..%2fx",
    "%252e%252e/x",
    "me\x00",
    "me\r\nHost: evil",
    "me\tx",
    ".\n",
    "me\n",
    "me x",
    "é",
    "me#frag",
    "me?x=1",
]


@pytest.mark.parametrize("path", REFUSED)
def test_paths_that_could_leave_the_base_are_refused(path):
    with pytest.raises(PathRefused):
        front_path(path)


@pytest.mark.parametrize(
    "raw", ["..%2Fx", "me%2fx", "me%5cx", "%2e%2e", "%252e", "me%00", "me%7f", "me%0a"]
)
def test_encoded_separators_in_the_raw_path_are_refused(raw):
    with pytest.raises(PathRefused):
        front_path("me", raw=raw)


@pytest.mark.parametrize(
    "path",
    [
        "me",
        "conversations",
        "conversations/cnv_1/messages",
        "contacts/alt:email:ann@example.com",
        "teammates/tea_1/",
        "a.b/c-d/e~f",
    ],
)
def test_plain_front_paths_are_accepted(path):
    assert front_path(path, raw=path) == path


@pytest.mark.parametrize("query", ["a b", "a\x00", "x=1#frag", "é=1"])
def test_unsafe_query_strings_are_refused(query):
    with pytest.raises(PathRefused):
        front_query(query)


def test_a_plain_query_string_is_kept():
    assert front_query("q=status%3Aopen&limit=5") == "q=status%3Aopen&limit=5"


def stays_under(base: str, url: str) -> bool:
    expected, got = urlsplit(base), urlsplit(url)
    prefix = expected.path.rstrip("/") + "/"
    return (
        (got.scheme, got.netloc) == (expected.scheme, expected.netloc)
        and got.path.startswith(prefix)
        and posixpath.normpath(got.path) in (got.path, got.path.rstrip("/"))
        and not got.fragment
    )


PIECES = st.sampled_from(
    ["/", "//", ".", "..", "%2e", "%2f", "%5c", "\\", ":", "@", "?", "#", "http:", "evil.com",
     "me", "a", "%25", "\x00", "\n", " ", "~", "é"]
)  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(st.one_of(st.text(max_size=40), st.lists(PIECES, max_size=10).map("".join)))
@pytest.mark.parametrize("base", [BASE, "http://127.0.0.1:8080/v2"])
def test_no_accepted_path_produces_a_url_outside_the_base(base, path):
    try:
        accepted = front_path(path, raw=path)
        query = front_query("x=1")
    except PathRefused:
        return
    assert stays_under(base, front_url(base, accepted, query))
