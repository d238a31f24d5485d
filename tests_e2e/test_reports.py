"""The reports app in a browser: request a report, watch it build, download it, check the file."""

from __future__ import annotations

import csv
import datetime as dt
import uuid

from conftest import Urls, expect_task_timeline, save_screenshot
from playwright.sync_api import Page, expect


def test_request_watch_and_download_a_report(page: Page, urls: Urls) -> None:
    page.goto(f"{urls.reports}/register")
    page.get_by_label("Username").fill(f"e2e-{uuid.uuid4().hex[:8]}")
    page.get_by_label("Password").fill("a password for the browser test")
    page.get_by_role("button", name="Create account").click()

    today = dt.datetime.now(dt.UTC).date()
    page.get_by_label("Report", exact=True).select_option("sales_summary")
    page.get_by_label("Format").select_option("csv")
    page.get_by_label("From", exact=True).fill((today - dt.timedelta(days=365)).isoformat())
    page.get_by_label("To", exact=True).fill(today.isoformat())
    page.get_by_label("Group by").select_option("month")
    page.get_by_role("button", name="Request report").click()

    # The page updates itself (Server-Sent Events): no reload until it is done.
    expect(page.get_by_test_id("percent")).to_have_text("100 %", timeout=60_000)
    expect(page.get_by_test_id("status")).to_have_text("done")
    expect(page.get_by_label("Progress")).to_have_attribute("value", "100")
    # The timeline follows live too: the task's start is on it without a reload.
    timeline = page.get_by_role("table", name="Task timeline")
    expect(timeline.locator('tr[data-kind="started"]')).to_have_count(1)
    expect(timeline.locator('tr[data-kind="succeeded"]')).to_have_count(1, timeout=10_000)
    row_count = int(page.get_by_test_id("row-count").inner_text())
    source_rows = int(page.get_by_test_id("source-rows").inner_text())

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the report").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    with download.path().open(newline="", encoding="utf-8") as file:
        header, *rows = list(csv.reader(file))

    assert header == ["period", "region", "orders", "quantity", "amount"]
    assert len(rows) == row_count > 0
    # Every sale in the range is counted once: the orders column adds up to the sales read.
    assert sum(int(row[2]) for row in rows) == source_rows > 0

    expect_task_timeline(page, ["committed", "published", "received", "started", "succeeded"])
    save_screenshot(page, "reports-report")

    page.get_by_role("link", name="All my reports").click()
    expect(page.get_by_role("link", name="Download")).to_have_count(1)
