"""`make doctor` (scripts/doctor.py): passes on a healthy stack, and names the cause when a
worker is stopped, when a queue has no consumer, and when Redis is down or silent.

The integration tests run the reports app's real checks (fastapi_reports/bin/doctor,
in a process of its own, as `make doctor` runs it) against a private Redis and a
real reports worker, with the environment the native stack would give them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import doctor
import pytest
import stack

from shared.testing import free_port, redis_server_binary, start_worker, wait_until

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "fastapi_reports"


# --- the runner, without a stack --------------------------------------------------------


def test_every_app_has_a_doctor_script() -> None:
    for folder in doctor.APPS.values():
        assert os.access(ROOT / folder / "bin" / "doctor", os.X_OK), folder


def test_compose_runs_each_apps_checks_in_a_one_off_container_of_its_web_service() -> None:
    command = doctor.compose_command("shop")

    assert command[: len(stack.COMPOSE)] == stack.COMPOSE
    assert command[len(stack.COMPOSE) :] == [
        "run",
        "--rm",
        "--no-deps",
        "-T",
        "shop-web",
        "django_shop/bin/doctor",
    ]


def test_the_compose_stack_is_checked_when_it_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(stack, "compose_running", lambda: True)
    passed = subprocess.CompletedProcess([], 0, "blog: PASS  broker answers      fine\n", "")
    with mock.patch("doctor.subprocess.run", return_value=passed) as run:
        assert doctor.main(["blog"]) == 0

    assert run.call_args.args[0] == doctor.compose_command("blog")
    assert run.call_args.kwargs["env"] is None  # compose gives the container its own
    assert "checking the compose stack" in capsys.readouterr().out


def test_natively_each_app_gets_the_stacks_environment_but_not_its_marker() -> None:
    command, env = doctor.native_command("reports")

    assert command == [str(REPORTS / "bin" / "doctor")]
    assert env["CELERY_BROKER_URL"] == stack.settings().celery_broker_url
    assert env["PATH"].startswith(str(stack.BIN))
    assert stack.MARKER not in env


def test_the_summary_names_each_failed_check() -> None:
    output = (
        "shop: PASS  broker answers      redis://127.0.0.1:6379/0 answers PING\n"
        "shop: FAIL  queues consumed     no worker consumes 'shop'\n"
        "shop:                           fix: start one\n"
        "shop: SKIP  serializers agree   not checked: queues consumed failed\n"
    )
    outcomes = [doctor.Outcome("shop", 1, output), doctor.Outcome("blog", 0, "")]

    assert doctor.summary(outcomes) == "doctor: FAILED (shop: queues consumed)"
    assert doctor.summary(outcomes[1:]) == "doctor: every check passed (blog)"


def test_a_doctor_that_crashes_is_a_failure_with_its_error(monkeypatch: pytest.MonkeyPatch) -> None:
    crashed = subprocess.CompletedProcess([], 2, "", "Traceback ...\nImportError: boom\n")
    with mock.patch("doctor.subprocess.run", return_value=crashed):
        outcome = doctor.run("shop", compose=True)

    assert outcome.failures() == ["doctor"]
    assert "ImportError: boom" in outcome.output


def test_an_unknown_app_is_refused() -> None:
    assert doctor.main(["shopp"]) == 2


# --- against a real Redis and a real worker ----------------------------------------------


class Redis:
    """A private redis-server that a test may stop, or pause (SIGSTOP: it stays silent)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        command = [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(workdir)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        wait_until(lambda: stack.redis_answers(self.url), timeout=10)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Redis]:
    server = Redis(tmp_path)
    yield server
    server.process.send_signal(signal.SIGCONT)
    if server.process.poll() is None:
        server.stop()


@pytest.fixture
def native(redis_server: Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The native stack's environment, on the private Redis; returns the reports worker's."""
    env_file = tmp_path / ".env"
    # What `make up` writes and every native service reads (DJANGO_SETTINGS_MODULE too:
    # with it set, Celery's Django fixup loads the shop's settings in any app).
    env_file.write_text("SHOP_SECRET_KEY=test-only\n")
    monkeypatch.setattr(stack, "ENV_FILE", env_file)
    monkeypatch.setattr(stack, "compose_running", lambda: False)
    env = {
        "CELERY_BROKER_URL": f"{redis_server.url}/0",
        "CELERY_RESULT_BACKEND_URL": f"{redis_server.url}/1",
        "VAR_DIR": str(tmp_path / "var"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def make_doctor(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`make doctor APP=reports`: its exit code and output."""
    code = doctor.main(["reports"])
    return code, capsys.readouterr().out


@pytest.mark.integration
def test_doctor_passes_with_a_worker_and_names_the_worker_once_it_stopped(
    native: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with start_worker("reports.celery_app", queue="reports", cwd=REPORTS, env=native, timeout=120):
        code, out = make_doctor(capsys)
        assert code == 0, out
        assert "doctor: every check passed (reports)" in out
        assert "reports: PASS  workers know tasks" in out

    code, out = make_doctor(capsys)

    assert code == 1
    assert "no worker consumes 'reports' (workers that answered: none)" in out
    assert "fix: start a worker of reports: `make start SERVICE=reports-worker`" in out
    assert out.splitlines()[-1] == "doctor: FAILED (reports: queues consumed)"


@pytest.mark.integration
def test_doctor_names_a_queue_that_no_worker_consumes(
    native: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A worker runs, but on another queue than the one the app sends to (`-Q elsewhere`)."""
    with start_worker(
        "reports.celery_app", queue="elsewhere", cwd=REPORTS, env=native, timeout=120
    ):
        code, out = make_doctor(capsys)

    assert code == 1
    assert "no worker consumes 'reports' (workers that answered: elsewhere-test-" in out
    assert "consumes elsewhere)" in out
    assert out.splitlines()[-1] == "doctor: FAILED (reports: queues consumed)"


@pytest.mark.integration
def test_doctor_names_a_redis_that_is_down(
    native: dict[str, str], redis_server: Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    redis_server.stop()

    code, out = make_doctor(capsys)

    assert code == 1
    assert (
        f"reports: FAIL  broker answers      {native['CELERY_BROKER_URL']} does not answer" in out
    )
    assert "reports: SKIP  queues consumed     not checked: broker answers failed" in out
    assert out.splitlines()[-1] == "doctor: FAILED (reports: broker answers, result backend)"


@pytest.mark.integration
def test_doctor_does_not_hang_on_a_redis_that_accepts_and_never_answers(
    native: dict[str, str], redis_server: Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    redis_server.process.send_signal(signal.SIGSTOP)
    started = time.monotonic()

    code, out = make_doctor(capsys)

    assert time.monotonic() - started < doctor.APP_TIMEOUT / 2
    assert code == 1
    assert "broker answers      " in out
    assert "accepts connections but does not answer" in out
