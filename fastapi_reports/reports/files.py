"""The report files under settings.files_dir: their names, their removal, and safe lookup.

A run writes `report-<id>-<task id>.<format>` (through a `.part` file next to
it: reports/writers.py). A name per queued message means a late run can
neither overwrite nor delete the file of a newer run of the same report.
"""

from __future__ import annotations

import logging
from pathlib import Path

from reports.config import settings

logger = logging.getLogger(__name__)


def report_file_name(report_id: int, task_id: str | None, report_format: str) -> str:
    # A task called directly (tests, a shell) has no task id.
    run = f"-{task_id}" if task_id else ""
    return f"report-{report_id}{run}.{report_format}"


def remove_report_files(report_id: int, *, keep: str | None = None) -> list[Path]:
    """Delete every file of report `report_id`, finished or partial, but `keep`; returns what went.

    For a report that has no file to keep: a run that is starting (what a killed
    run left behind) and a report the reaper failed. And for a report just done
    with the file `keep`: what killed copies of its run left half written.
    """
    files_dir = settings.files_dir
    # `report-7.` and `report-7-`, never `report-71…`; `.report-7…part` are partial files.
    found = [
        path
        for pattern in (f"report-{report_id}[.-]*", f".report-{report_id}[.-]*")
        for path in files_dir.glob(pattern)
        if path.name != keep
    ]
    for path in found:
        path.unlink(missing_ok=True)
        logger.info("removed %s, left by an earlier run of report %s", path.name, report_id)
    return found


def stored_file(file_name: str) -> Path | None:
    """The finished file `file_name` directly inside files_dir, or None.

    The name comes from the database, so it is checked like any input: a name
    that leads out of files_dir (`../x`, `/etc/passwd`, a symlink out) or to
    no file is None, never a path to serve.
    """
    files_dir = settings.files_dir.resolve()
    path = (files_dir / file_name).resolve()
    return path if path.parent == files_dir and path.is_file() else None
