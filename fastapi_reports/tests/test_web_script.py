"""bin/web: uvicorn believes X-Forwarded-Proto only from REPORTS_FORWARDED_ALLOW_IPS,
and its access log carries the request id."""

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
def running_web(env: dict[str, str], log: Path | None = None) -> Iterator[str]:
    """Start bin/web on a free port with `env` added; yields its base URL.

    What it prints goes to `log` when given, else nowhere.
    """
    port = free_port()
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    out = log.open("wb") if log is not None else subprocess.DEVNULL
    process = subprocess.Popen(
        [str(APP_DIR / "bin" / "web"), "--port", str(port)],
        env={**os.environ, "PATH": path, **env},
        stdout=out,
        stderr=out,
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
        if log is not None:
            out.close()  # type: ignore[union-attr]


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


def test_the_access_log_carries_the_request_id(tmp_path: Path) -> None:
    log = tmp_path / "web.log"
    with running_web({}, log=log) as url:
        response = httpx2.get(f"{url}/health", headers={"X-Request-ID": "req-42.a_b"}, timeout=5)
        fresh = httpx2.get(f"{url}/login", timeout=5).headers["X-Request-ID"]
    access = [line for line in log.read_text().splitlines() if "uvicorn.access" in line]
    assert response.headers["X-Request-ID"] == "req-42.a_b"
    assert any("req=req-42.a_b" in line and '"GET /health HTTP/1.1"' in line for line in access)
    # A request that sent none gets a new id, and its line carries that one.
    assert any(f"req={fresh}" in line and '"GET /login HTTP/1.1" 200' in line for line in access)
