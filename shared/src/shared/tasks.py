"""Tasks every app uses. Every worker registers them (`imports` in the shared config)."""

from __future__ import annotations

from celery import shared_task


class DiagnosticError(Exception):
    """The failure `diagnose_failure` raises on purpose."""


@shared_task(name="shared.diagnose_failure", ignore_result=False)
def diagnose_failure(message: str = "a deliberate failure") -> None:
    """Fail with DiagnosticError(`message`): a diagnostic, and nothing else.

    It touches nothing; `make check-integration` sends it to each app's queue to
    see a failure reach the result backend (state FAILURE, with its exception)
    and Flower, as a real task's failure would. Any app can send it: every
    worker registers the tasks of this module.
    """
    raise DiagnosticError(message)
