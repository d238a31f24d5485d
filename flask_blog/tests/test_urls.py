"""`is_local_path`, the check that keeps ?next= on this site, against a table of hostile values."""

from __future__ import annotations

import pytest

from blog.urls import is_local_path

# Each of these takes a browser to another site (or runs script) when used as a Location.
ELSEWHERE = [
    "https://evil.example/x",
    "HTTPS://evil.example",
    "http:/evil.example",  # a browser reads one slash after http: as two
    "//evil.example",
    "///evil.example",
    "////evil.example/x",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",  # browsers drop tabs and newlines
    "/\n/evil.example",
    " //evil.example",  # and leading spaces
    "%2F%2Fevil.example",  # not a path: it does not start with "/"
    "//[::1",  # an IPv6 host
    "javascript:alert(1)",
    "evil.example",
    "",
]

ON_THIS_SITE = [
    "/",
    "/posts/1",
    "/account/?tab=exports",
    "/search?q=//evil.example",  # slashes in the query string are not a host
    "/%2F%2Fevil.example",  # an (encoded) path on this site, not a host
]


@pytest.mark.parametrize("url", ELSEWHERE)
def test_a_url_that_leaves_the_site_is_refused(url: str) -> None:
    assert not is_local_path(url)


@pytest.mark.parametrize("url", ON_THIS_SITE)
def test_a_path_on_this_site_is_allowed(url: str) -> None:
    assert is_local_path(url)
