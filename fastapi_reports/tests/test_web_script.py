"""bin/web: uvicorn believes X-Forwarded-Proto only from REPORTS_FORWARDED_ALLOW_IPS."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2

from shared.testing import free_port, wait_until

APP_DIR = Path(__file__).resolve().parents[1]


@contextmanager
def running_web(env: dict[str, str]) -> Iterator[str]:
    """Start bin/web on a free port with `env` added; yields its base URL."""
    port = free_port()
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    process = subprocess.Popen(
        [str(APP_DIR / "bin" / "web"), "--port", str(port)],
        env={**os.environ, "PATH": path, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx2.get(f"{url}/login", timeout=1).status_code == 200
        except httpx2.TransportError:
            return False

    try:
        wait_until(answers, timeout=30, interval=0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def post_as_tls_proxy(url: str) -> int:
    """POST as a browser behind a TLS proxy on this machine would: `https` origin, plain HTTP."""
    https_origin = url.replace("http://", "https://")
    headers = {"Origin": https_origin, "X-Forwarded-Proto": "https"}
    return httpx2.post(f"{url}/logout", headers=headers, timeout=5).status_code


def test_proxy_headers_from_loopback_are_trusted_by_default() -> None:
    with running_web({}) as url:
        assert post_as_tls_proxy(url) == 303  # the scheme came from X-Forwarded-Proto


def test_proxy_headers_from_other_addresses_are_ignored() -> None:
    with running_web({"REPORTS_FORWARDED_ALLOW_IPS": "192.0.2.7"}) as url:
        assert post_as_tls_proxy(url) == 403  # the request stays http://, the origin https://
