from pathlib import Path

import pytest

from shared.settings import SharedSettings


def test_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://broker.example:6380/2")
    monkeypatch.setenv("SMTP_PORT", "2525")
    monkeypatch.setenv("VAR_DIR", "/srv/state")

    settings = SharedSettings()

    assert settings.celery_broker_url == "redis://broker.example:6380/2"
    assert settings.smtp_port == 2525
    assert settings.var_dir == Path("/srv/state")


def test_defaults_are_the_embedded_native_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CELERY_BROKER_URL", "SMTP_HOST", "SMTP_PORT"):
        monkeypatch.delenv(name, raising=False)

    settings = SharedSettings()

    assert settings.celery_broker_url == "redis://127.0.0.1:6379/0"
    assert (settings.smtp_host, settings.smtp_port) == ("127.0.0.1", 1025)


def test_secrets_are_not_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2")

    shown = repr(SharedSettings())

    assert "hunter2" not in shown


def test_only_what_the_apps_read_at_run_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWER_BASIC_AUTH", "admin:s3cret")

    fields = set(SharedSettings.model_fields)

    assert "flower_basic_auth" not in fields  # the stack's tooling: scripts/stack.py
    assert "mail_url" not in fields
    assert "s3cret" not in repr(SharedSettings())
