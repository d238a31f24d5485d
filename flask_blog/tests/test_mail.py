import smtplib

import pytest
from flask import Flask

from blog.mail import build_message
from blog.tasks import send_email
from shared.celery_app import MAX_RETRY_DELAY
from shared.testing import SmtpSink


def test_text_only_message() -> None:
    message = build_message(
        sender="Shop <shop@example.com>", to=["a@example.com"], subject="Hi", text="Hello"
    )

    assert message["To"] == "a@example.com"
    assert not message.is_multipart()
    assert message.get_content().strip() == "Hello"


def test_html_alternative() -> None:
    message = build_message(
        sender="shop@example.com",
        to=["a@example.com", "b@example.com"],
        subject="Hi",
        text="Hello",
        html="<p>Hello</p>",
    )

    assert message["To"] == "a@example.com, b@example.com"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]


def test_send_email_delivers_over_smtp(
    app: Flask, monkeypatch: pytest.MonkeyPatch, smtp_sink: SmtpSink
) -> None:
    monkeypatch.setenv("SMTP_PORT", str(smtp_sink.port))
    monkeypatch.setenv("SMTP_SENDER", "Tests <tests@example.com>")

    send_email("reader@example.com", "Your archive", "It is ready.")

    message = smtp_sink.wait_for(lambda m: m["Subject"] == "Your archive")
    assert message["From"] == "Tests <tests@example.com>"
    assert message["To"] == "reader@example.com"


# autoretry_for, retry_backoff and retry_backoff_max are set on the task class by
# @shared_task(...); celery-types does not declare them, hence the ignores.


def test_send_email_retries_smtp_failures() -> None:
    assert send_email.autoretry_for == (smtplib.SMTPException, OSError)  # type: ignore[attr-defined]
    assert send_email.retry_backoff is True  # type: ignore[attr-defined]
    assert send_email.max_retries == 6


def test_no_retry_waits_longer_than_the_longest_retry_delay() -> None:
    assert send_email.retry_backoff_max <= MAX_RETRY_DELAY  # type: ignore[attr-defined]
