"""A state-changing request from another site is refused; one from this site goes through."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from reports.config import settings
from reports.csrf import UNSAFE
from reports.main import create_app
from reports.models import Report, User

MakeReport = Callable[..., Report]

ELSEWHERE = "https://attacker.example"


@pytest.mark.parametrize("header", ["origin", "referer"])
def test_a_post_from_another_site_is_refused(client: TestClient, alice: User, header: str) -> None:
    response = client.post("/logout", headers={header: f"{ELSEWHERE}/page"})

    assert response.status_code == 403
    assert client.get("/reports", follow_redirects=False).status_code == 200  # still signed in


def test_a_post_from_this_site_goes_through(client: TestClient, alice: User) -> None:
    response = client.post(
        "/logout", headers={"origin": "http://testserver"}, follow_redirects=False
    )

    assert response.status_code == 303
    assert client.get("/reports", follow_redirects=False).status_code == 303  # signed out


def test_reading_is_never_refused(client: TestClient) -> None:
    assert client.get("/", headers={"origin": ELSEWHERE}).status_code == 200


@pytest.fixture
def behind_a_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """A signed-in client of the app as a TLS proxy serves it: public at
    https://reports.example, spoken to over plain HTTP at its private address."""
    monkeypatch.setattr(settings, "reports_url", "https://reports.example")
    with TestClient(create_app(), base_url="http://10.0.0.5:8003") as client:
        form = {"username": "carol", "password": "a-long-password"}
        assert client.post("/register", data=form, follow_redirects=False).status_code == 303
        yield client


def test_a_post_from_the_public_url_goes_through(behind_a_proxy: TestClient) -> None:
    response = behind_a_proxy.post(
        "/logout", headers={"origin": "https://reports.example"}, follow_redirects=False
    )

    assert response.status_code == 303
    assert behind_a_proxy.get("/reports", follow_redirects=False).status_code == 303


def test_behind_a_proxy_another_site_is_still_refused(behind_a_proxy: TestClient) -> None:
    for origin in (ELSEWHERE, "http://reports.example", "https://reports.example.attacker.example"):
        assert behind_a_proxy.post("/logout", headers={"origin": origin}).status_code == 403
    assert behind_a_proxy.get("/reports", follow_redirects=False).status_code == 200


@pytest.mark.parametrize("claimed", ["http://[", "null", "about:blank", "testserver"])
def test_an_origin_that_is_no_url_is_refused_not_a_crash(
    client: TestClient, alice: User, claimed: str
) -> None:
    assert client.post("/logout", headers={"origin": claimed}).status_code == 403


@pytest.fixture
def state_changing_routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, path) of every route that changes state, read from the app itself.

    A route added later is in this list without anyone editing the test.
    """
    routes = [
        (method, route.path)
        for route in iter_route_contexts(client.app.routes)  # type: ignore[attr-defined]
        if route.path is not None
        for method in sorted((route.methods or set()) & UNSAFE)
    ]
    assert {("POST", "/logout"), ("POST", "/api/reports")} <= set(routes)
    return routes


def test_every_state_changing_route_refuses_another_site(
    client: TestClient,
    alice: User,
    make_report: MakeReport,
    state_changing_routes: list[tuple[str, str]],
) -> None:
    # A failed report: retry would queue it, cancel would 409, anything else 404.
    report = make_report(alice, status="failed")
    for method, path in state_changing_routes:
        url = re.sub(r"{[^}]+}", str(report.id), path)
        for header in ("origin", "referer"):
            headers = {header: f"{ELSEWHERE}/page"}
            response = client.request(method, url, headers=headers, follow_redirects=False)
            assert response.status_code == 403, f"{method} {url} from {header}: {response}"
    assert client.get(f"/api/reports/{report.id}").json()["status"] == "failed"
    assert client.get("/reports", follow_redirects=False).status_code == 200  # still signed in
