"""bin/migrate's `python -m reports.release`: migrate and seed, in one process, idempotent."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

APP_DIR = Path(__file__).resolve().parents[1]


def release(database: Path) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "REPORTS_DATABASE_URL": f"sqlite:///{database}",
        "REPORTS_SEED_ROWS": "25",
    }
    return subprocess.run(
        [sys.executable, "-m", "reports.release"],
        cwd=APP_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_release_migrates_an_empty_database_then_seeds_it_once(tmp_path: Path) -> None:
    database = tmp_path / "reports.sqlite3"

    first = release(database)
    assert first.returncode == 0, first.stderr
    assert "seeded 25 sales" in first.stderr + first.stdout
    second = release(database)
    assert second.returncode == 0, second.stderr
    assert "nothing seeded" in second.stderr + second.stdout

    with sqlite3.connect(database) as connection:
        (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        (sales,) = connection.execute("SELECT count(*) FROM sales").fetchone()
    heads = sorted((APP_DIR / "alembic" / "versions").glob("0*.py"))
    assert heads[-1].name.startswith(revision)
    assert sales == 25
