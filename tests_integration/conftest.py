"""`make check-integration APP=shop|blog|reports`: an app's tasks end to end on the running stack.

Native or compose, as `make doctor` tells them apart (stack.compose_running):
the HTTP flows go to the published ports; what must run inside an app (a
checkout rolled back, the diagnostic failure sent and its result read) runs in
a process of the app with its services' environment, natively, or in its web
container (`docker compose exec`). The apps are driven by the clients of the
fault suite (tests_faults/clients.py), as a customer, a blogger and a reports
user see them.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "tests_faults")]

import stack  # noqa: E402 (the scripts are not a package)

APPS = {"shop": "django_shop", "blog": "flask_blog", "reports": "fastapi_reports"}
#: How long a task may take to show its effect on a loaded machine.
TASK_SECONDS = 90.0

#: The Python that loads each app in a process of its own, as its worker does.
LOAD_APP = {
    "shop": "from config.celery_app import app\nimport django\ndjango.setup()\n",
    "blog": "from blog import create_app\ncreate_app()\n",
    "reports": "import reports.celery_app\n",
}


@pytest.fixture(scope="session")
def config() -> stack.StackSettings:
    return stack.settings()


@pytest.fixture(scope="session")
def compose() -> bool:
    return stack.compose_running()


@pytest.fixture(scope="session")
def in_app(compose: bool) -> Callable[[str, str], str]:
    """Run Python `code` in a process of `app`, with the app loaded; returns its stdout."""

    def run(app: str, code: str) -> str:
        source = LOAD_APP[app] + code
        if compose:
            command = [*stack.COMPOSE, "exec", "-T", "-w", f"/app/{APPS[app]}", f"{app}-web"]
            command += ["python", "-c", source]
            env = None
        else:
            command = [sys.executable, "-c", source]
            env = stack.native_env(stack.settings(), stack.settings().var_dir, run_redis=False)
            del env[stack.MARKER]
        done = subprocess.run(
            command,
            cwd=ROOT / APPS[app],
            env=env,
            capture_output=True,
            text=True,
            timeout=TASK_SECONDS + 60,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout.strip()

    return run


def wait_for(what: str, predicate: Callable[[], Any], *, timeout: float = TASK_SECONDS) -> Any:
    """Poll `predicate` until it returns something truthy; fail at `timeout`."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.5)
    return value


class Mailbox:
    """The mail catcher, through Mailpit's HTTP API (the native catcher speaks it too)."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx2.Client(base_url=base_url, timeout=10)

    def search(self, query: str) -> list[dict[str, Any]]:
        found = self.client.get("/api/v1/search", params={"query": query}).raise_for_status()
        return list(found.json()["messages"])

    def wait_for(self, query: str) -> dict[str, Any]:
        """The full message (Subject, From, Text...) of the newest one that matches `query`."""
        found = wait_for(f"an email matching {query!r}", lambda: self.search(query))
        return dict(self.client.get(f"/api/v1/message/{found[0]['ID']}").raise_for_status().json())


@pytest.fixture(scope="session")
def mailbox(config: stack.StackSettings) -> Iterator[Mailbox]:
    box = Mailbox(config.mail_url)
    yield box
    box.client.close()


@pytest.fixture
def address() -> str:
    """An email address no earlier run used."""
    return f"integration-{secrets.token_hex(4)}@example.com"


@pytest.fixture(scope="session")
def flower(config: stack.StackSettings) -> Iterator[httpx2.Client]:
    credentials = config.flower_credentials()
    if credentials is None:
        pytest.fail("FLOWER_BASIC_AUTH is not set (make up writes it to .env)")
    with httpx2.Client(base_url=config.flower_url, auth=credentials, timeout=10) as client:
        yield client


def flower_task(flower: httpx2.Client, task_id: str, state: str) -> dict[str, Any]:
    """Flower's record of the task (/api/task/info/ID), once it has reached `state`."""

    def info() -> dict[str, Any] | None:
        answer = flower.get(f"/api/task/info/{task_id}")
        if answer.status_code == 404:  # Flower has not seen its events yet
            return None
        body: dict[str, Any] = answer.raise_for_status().json()
        return body if body.get("state") == state else None

    found: dict[str, Any] = wait_for(f"Flower shows task {task_id} {state}", info)
    return found


DIAGNOSE = """
import json
from shared.tasks import diagnose_failure

result = diagnose_failure.delay({message!r})
result.get(timeout={timeout}, propagate=False)
print(json.dumps({{"id": result.id, "state": result.state, "error": repr(result.result),
                  "traceback": result.traceback}}))
"""


@pytest.fixture(scope="session")
def diagnose(in_app: Callable[[str, str], str]) -> Callable[[str, str], dict[str, Any]]:
    """Send `shared.diagnose_failure(message)` from `app`, to its own queue, and return what
    the app reads back from its result backend: id, state, error and traceback.
    """

    def send(app: str, message: str) -> dict[str, Any]:
        code = DIAGNOSE.format(message=message, timeout=TASK_SECONDS)
        answer: dict[str, Any] = json.loads(in_app(app, code).splitlines()[-1])
        return answer

    return send


def check_failure_propagates(
    app: str, diagnose: Callable[[str, str], dict[str, Any]], flower: httpx2.Client
) -> None:
    """A failing task of `app` is FAILURE with its exception in the app and in Flower."""
    message = f"check-integration {app} {secrets.token_hex(4)}"

    seen = diagnose(app, message)

    assert seen["state"] == "FAILURE"
    assert seen["error"] == f"DiagnosticError({message!r})"
    assert "raise DiagnosticError(message)" in seen["traceback"]
    task = flower_task(flower, seen["id"], "FAILURE")
    assert task["name"] == "shared.diagnose_failure"
    assert task["exception"] == f"DiagnosticError({message!r})"
    assert task["worker"].startswith(f"{app}@")  # run by the app's own worker
