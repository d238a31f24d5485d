"""The reports' `make doctor` checks: shared's Celery checks on the worker's own app.

Run by `fastapi_reports/bin/doctor` (`python -m shared.doctor fastapi-reports
reports.doctor`) with the environment of the reports' services. The result
backend check matters most here: a split report's chord gathers its parts'
totals there.
"""

from __future__ import annotations

from reports.celery_app import celery_app
from shared.doctor import Doctor, celery_checks

#: The names the reports app sends its tasks by.
TASKS = {
    "reports.ping",
    "reports.build_report",
    "reports.build_report_part",
    "reports.merge_report_parts",
    "reports.fail_split_report",
    "reports.notify_report_ready",
    "shared.diagnose_failure",
}
#: The stack's service of the worker, and what it runs (APP/bin/worker).
WORKER = ("reports-worker", "celery -A reports.celery_app worker -Q reports")


def checks(doctor: Doctor) -> None:
    celery_checks(
        doctor, celery_app, expected_tasks=TASKS, worker_service=WORKER[0], worker_command=WORKER[1]
    )
