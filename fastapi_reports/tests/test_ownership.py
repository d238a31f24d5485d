"""Owner only: another user's report is "no such report" on every route that names one.

The routes come from the app itself (the `report_routes` fixture), so a route
added later is checked without anyone editing this test.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from reports.config import settings
from reports.models import Report, ReportStatus, User

MakeReport = Callable[..., Report]


def test_another_users_report_is_no_such_report_everywhere(
    client: TestClient,
    alice: User,
    bob: User,
    session: Session,
    make_report: MakeReport,
    report_routes: list[tuple[str, str]],
) -> None:
    # One of Bob's reports in each state, so that each action would succeed for him.
    settings.files_dir.mkdir(parents=True, exist_ok=True)
    (settings.files_dir / "bobs.csv").write_text("period,region\n")
    reports = [
        make_report(bob),
        make_report(bob, status=ReportStatus.FAILED),
        make_report(bob, status=ReportStatus.DONE, file_name="bobs.csv"),
    ]
    before = session.execute(select(Report.id, Report.status, Report.task_id)).all()
    for report in reports:
        for method, path in report_routes:
            url = path.format(report_id=report.id)
            response = client.request(method, url, follow_redirects=False)
            assert response.status_code == 404, f"{method} {url} ({report.status}): {response}"
            assert "period,region" not in response.text
    session.expire_all()
    assert session.execute(select(Report.id, Report.status, Report.task_id)).all() == before
    assert client.get("/api/reports").json() == []
