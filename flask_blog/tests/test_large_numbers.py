"""No number in a URL makes a 500: every route with an argument, and ?page=, with huge numbers.

The routes come from the app's URL map, so a new route with an unbounded
`<int:...>` fails here (SQLite raises OverflowError past 2**63 - 1).
"""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import AuthActions
from tests.factories import UserFactory

# Around the largest id (2**31 - 1, PostgreSQL's integer) and the largest
# 64-bit integer (SQLite's, and the largest OFFSET).
HUGE = [str(2**31 - 1), str(2**31), str(2**63), str(2**64), "1" + "0" * 29, "-" + str(2**63)]


@pytest.fixture
def logged_in(app: Flask, auth: AuthActions) -> None:
    with app.app_context():
        UserFactory.create(username="alice")
    auth.login("alice")


@pytest.mark.usefixtures("logged_in")
@pytest.mark.parametrize("number", HUGE)
def test_every_route_with_an_argument_says_404(
    app: Flask, client: FlaskClient, auth: AuthActions, number: str
) -> None:
    rules = [rule for rule in app.url_map.iter_rules() if rule.arguments]
    assert len(rules) >= 8  # the export and post routes, and static
    for rule in rules:
        url = re.sub(r"<[^>]+>", number, rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            data = {"csrf_token": auth.csrf_token()} if method != "GET" else None
            response = client.open(url, method=method, data=data)
            assert response.status_code == 404, (method, url)


@pytest.mark.parametrize("number", [*HUGE, str(2**63 - 1), "0", "-1", "two", "9" * 5000])
def test_a_page_number_out_of_range_is_404(client: FlaskClient, number: str) -> None:
    assert client.get("/", query_string={"page": number}).status_code == 404


def test_the_first_page_is_the_default(client: FlaskClient) -> None:
    assert client.get("/").status_code == 200
    assert client.get("/?page=1").status_code == 200
