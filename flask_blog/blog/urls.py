"""URLs: absolute ones for emails sent by tasks, and checking the ones a request brings."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from werkzeug.routing import IntegerConverter, Map

#: The largest id an `Integer` primary key holds on every database (PostgreSQL's
#: integer is 32 bits). A larger number in a query is an error, which would be a 500.
MAX_ID = 2**31 - 1

#: The largest OFFSET SQLite and PostgreSQL take (64 bits); the driver raises
#: OverflowError on a larger one.
MAX_OFFSET = 2**63 - 1

# What browsers drop from a URL (tabs, newlines, leading spaces) or read as a
# slash (the backslash): "/\t/evil.example" and "/\\evil.example" are "//evil.example" to them.
_IGNORED_OR_READ_AS_SLASH = re.compile(r"[\x00-\x20\x7f\\]")


def external_url(endpoint: str, **values: Any) -> str:
    """The URL of `endpoint` on the public BLOG_URL; needs only an app context."""
    base = urlsplit(current_app.config["BLOG_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme
    )
    return adapter.build(endpoint, values, force_external=True)


def is_local_path(url: str) -> bool:
    """Whether `url` is a path on this site ("/posts/1?page=2"), safe to redirect to.

    It must start with exactly one slash: no scheme ("https:", "javascript:") and
    no host, which is what a browser reads in "//evil.example" and "////evil.example"
    (a parser such as urlsplit sees an empty host in "///evil.example"; browsers do not).
    """
    if _IGNORED_OR_READ_AS_SLASH.search(url):
        return False
    return url.startswith("/") and not url.startswith("//")


class IdConverter(IntegerConverter):
    """`<id:name>` in a route: a row id from 1 to MAX_ID; any other number is a 404."""

    def __init__(self, url_map: Map) -> None:
        super().__init__(url_map, min=1, max=MAX_ID)
