"""Any number in a report's URL is answered, never a 500: no such report, or a page saying so."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from reports.models import User

#: Past a signed 32-bit integer (PostgreSQL's INTEGER), a 64-bit one (SQLite's), then
#: far past both: 30 digits.
BEYOND_ANY_ROW = [2**31, 2**63, 2**64, 10**29, 0, -1]


@pytest.mark.parametrize("report_id", BEYOND_ANY_ROW)
def test_an_id_no_row_can_have_is_no_such_report(
    client: TestClient, alice: User, report_routes: list[tuple[str, str]], report_id: int
) -> None:
    for method, path in report_routes:
        url = path.format(report_id=report_id)
        response = client.request(method, url, follow_redirects=False)
        assert response.status_code == 404, f"{method} {url}: {response.status_code}"


def test_an_id_that_is_no_number_is_refused(
    client: TestClient, alice: User, report_routes: list[tuple[str, str]]
) -> None:
    for method, path in report_routes:
        for not_a_number in ("1.5", "abc", "1e3", "%00"):
            url = path.format(report_id=not_a_number)
            response = client.request(method, url, follow_redirects=False)
            assert response.status_code == 422, f"{method} {url}: {response.status_code}"
