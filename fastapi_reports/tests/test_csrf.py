"""A state-changing request from another site is refused; one from this site goes through."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from reports.models import User

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
