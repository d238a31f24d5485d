"""`manage.py release`: the shop's one-shot release step, in one process.

Migrate, load the demo catalogue if it is empty, create the admin account, collect
the static files: each its own management command, called here one after the other,
so that Django and the shop's Celery app load once instead of once per step (about
a second of CPU each). bin/migrate runs it before any web, worker or beat starts.
"""

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand

#: Each step: a management command and its options, as `manage.py NAME --OPTION` takes them.
STEPS: list[tuple[str, dict[str, Any]]] = [
    ("migrate", {"interactive": False}),
    ("seed_catalogue", {}),
    ("ensure_admin", {}),
    ("collectstatic", {"interactive": False, "verbosity": 0}),
]


class Command(BaseCommand):
    help = "Migrate, seed the catalogue, create the admin, collect static files: one process."

    def handle(self, *args: Any, **options: Any) -> None:
        for name, step_options in STEPS:
            call_command(name, stdout=self.stdout, stderr=self.stderr, **step_options)
