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
    for name in ("CELERY_BROKER_URL", "SMTP_HOST", "SMTP_PORT", "FLOWER_BASIC_AUTH"):
        monkeypatch.delenv(name, raising=False)

    settings = SharedSettings()

    assert settings.celery_broker_url == "redis://127.0.0.1:6379/0"
    assert (settings.smtp_host, settings.smtp_port) == ("127.0.0.1", 1025)
    assert settings.flower_credentials() is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("admin:s3cret", ("admin", "s3cret")), ("ops:a:b,other:c", ("ops", "a:b"))],
)
def test_flower_credentials_take_the_first_pair(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: tuple[str, str]
) -> None:
    monkeypatch.setenv("FLOWER_BASIC_AUTH", value)

    assert SharedSettings().flower_credentials() == expected


def test_secrets_are_not_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWER_BASIC_AUTH", "admin:s3cret")
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2")

    shown = repr(SharedSettings())

    assert "s3cret" not in shown
    assert "hunter2" not in shown
