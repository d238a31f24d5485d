"""Tasks more than one app uses. Every worker registers them (`imports` in the config)."""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Sequence

from celery import shared_task

from shared.celery_app import MAX_RETRY_DELAY
from shared.mail import build_message, deliver
from shared.settings import SharedSettings

logger = logging.getLogger(__name__)


@shared_task(
    name="shared.send_email",
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=True,
    retry_backoff_max=MAX_RETRY_DELAY,
    retry_jitter=True,
    max_retries=6,
)
def send_email(to: Sequence[str] | str, subject: str, text: str, html: str | None = None) -> None:
    """Send one email. Arguments are plain values, so any app can call `.delay()`.

    SMTP and network errors are retried with exponential backoff (capped at
    five minutes, six tries). This task is not idempotent: a retry after the
    server accepted the message sends it again, which is why it does not use
    acks_late. A task that must send exactly once claims a row first (see the
    shop's order confirmation).
    """
    settings = SharedSettings()
    recipients = [to] if isinstance(to, str) else list(to)
    message = build_message(
        sender=settings.smtp_sender, to=recipients, subject=subject, text=text, html=html
    )
    deliver(message, settings)
    logger.info("sent email %r to %s", subject, ", ".join(recipients))


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
