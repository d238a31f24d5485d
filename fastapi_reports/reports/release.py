"""`python -m reports.release`: the reports' one-shot release step, in one process.

Upgrade the database to the latest migration (`alembic upgrade head`), then seed
the demo sales when the table is empty (`python -m reports.seed`): one after the
other here, so that the app's settings, models and engine load once instead of
once per step. bin/migrate runs it before any web or worker process starts.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from reports import seed

ALEMBIC_INI = Path(__file__).resolve().parents[1] / "alembic.ini"


def main() -> None:
    command.upgrade(Config(str(ALEMBIC_INI)), "head")
    seed.main()


if __name__ == "__main__":
    main()
