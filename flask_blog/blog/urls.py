"""Absolute URLs outside a request, for links in emails sent by tasks."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import current_app


def external_url(endpoint: str, **values: Any) -> str:
    """The URL of `endpoint` on the public BLOG_URL; needs only an app context."""
    base = urlsplit(current_app.config["BLOG_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme
    )
    return adapter.build(endpoint, values, force_external=True)
