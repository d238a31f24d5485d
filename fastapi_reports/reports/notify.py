"""Telling other systems that a report is ready: webhooks, posted concurrently with asyncio."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx2


async def post_notices(
    urls: Sequence[str],
    payload: dict[str, Any],
    *,
    timeout: float = 10.0,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> list[int]:
    """POST `payload` to every url at once; raises if any of them fails."""
    async with httpx2.AsyncClient(timeout=timeout, transport=transport) as client:
        responses = await asyncio.gather(*(client.post(url, json=payload) for url in urls))
    for response in responses:
        response.raise_for_status()
    return [response.status_code for response in responses]
