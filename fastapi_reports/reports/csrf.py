"""Cross-site request forgery: a state-changing request must come from this site.

The session cookie is `SameSite=lax`, so browsers already leave it off
cross-site POSTs. As a second line, the way OWASP recommends for apps without
form tokens, a POST, PUT, PATCH or DELETE whose `Origin` (or, without one,
`Referer`) names another site is refused with 403. Browsers send `Origin` on
every POST; a request with neither header (curl, an API client) carries no
browser's ambient cookies and goes through.

"This site" is the origin the request reached (its scheme and Host) or one of
the configured public origins (REPORTS_URL). Behind a TLS proxy the app itself
is spoken to over plain HTTP, so the request's own origin is `http://…` while
the browser's is `https://…`: the public URL is what the browser sees.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of `url`, lowercased; None when it is no URL at all."""
    try:
        parts = urlsplit(url)
    except ValueError:  # "http://[" and other garbage a client may send
        return None
    if not parts.scheme or not parts.netloc:
        return None  # "null" (a sandboxed frame), "about:blank", …
    return f"{parts.scheme}://{parts.netloc}".lower()


class SameOriginMiddleware:
    """Pure ASGI middleware: 403 for an unsafe request sent from another origin.

    `trusted_origins` are the public URLs of the app (their paths are ignored);
    the origin the request itself reached is always trusted too.
    """

    def __init__(self, app: Any, trusted_origins: Iterable[str] = ()) -> None:
        self.app = app
        self.trusted_origins = {origin_of(url) for url in trusted_origins} - {None}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] in UNSAFE:
            headers = Headers(scope=scope)
            claimed = headers.get("origin") or headers.get("referer")
            if claimed and not self._is_trusted(origin_of(claimed), scope, headers):
                response = PlainTextResponse("Cross-site request refused.", status_code=403)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _is_trusted(self, origin: str | None, scope: dict[str, Any], headers: Headers) -> bool:
        own = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}".lower()
        return origin is not None and (origin == own or origin in self.trusted_origins)
