"""The doctor's checks: each passes on a sound setup and fails, naming the cause, on a broken one.

The worker checks ask a real worker (`worker_app`, consuming `shared-tests`)
over a real Redis; nothing about Celery is mocked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from unittest import mock

import kombu.pools
import pytest
from celery import Celery

from shared import doctor
from shared.celery_app import create_celery_app
from shared.doctor import CheckFailedError, Doctor, Result
from shared.settings import SharedSettings
from shared.testing import free_port, start_worker

HERE = Path(__file__).parent
QUEUE = "shared-tests"  # what worker_app's worker consumes


@pytest.fixture
def app_for(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Celery]]:
    """Celery apps built by the shared factory on a broker URL, which CELERY_BROKER_URL names."""
    apps: list[Celery] = []

    def build(broker_url: str, *, queue: str = QUEUE, backend_url: str | None = None) -> Celery:
        monkeypatch.setenv("CELERY_BROKER_URL", broker_url)
        settings = SharedSettings(
            celery_broker_url=broker_url, celery_result_backend_url=backend_url or broker_url
        )
        app = create_celery_app(f"doctor-{len(apps)}", default_queue=queue, settings=settings)
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.close()
    # Producers are pooled by kombu per broker URL, across apps: the next test's app
    # on the same URL must not be handed the pool closed with this one.
    kombu.pools.reset()


# --- running checks -------------------------------------------------------------------


def test_a_probe_that_never_returns_fails_at_its_deadline() -> None:
    never = threading.Event()
    started = time.monotonic()

    result = doctor.run_probe("hangs", lambda: str(never.wait(30)), fix="x", deadline=0.5)

    assert time.monotonic() - started < 2
    assert result == Result("hangs", "fail", "no answer within 0 s", "x")


def test_a_probe_says_why_it_failed_and_the_fix_goes_with_it() -> None:
    def named() -> str:
        raise CheckFailedError("no worker consumes 'shop'")

    def crashed() -> str:
        raise ConnectionRefusedError("refused")

    assert doctor.run_probe("a", named, fix="start one", deadline=5) == Result(
        "a", "fail", "no worker consumes 'shop'", "start one"
    )
    assert doctor.run_probe("b", crashed, fix="f", deadline=5).detail == (
        "ConnectionRefusedError: refused"
    )
    assert doctor.run_probe("c", lambda: "fine", fix="f", deadline=5) == Result("c", "pass", "fine")


def test_a_check_whose_need_failed_is_skipped_not_run() -> None:
    ran: list[str] = []
    checks = Doctor()

    def broken() -> str:
        raise CheckFailedError("down")

    def workers() -> str:
        ran.append("workers")
        return ""

    checks.check("broker", broken, fix="start it")
    skipped = checks.check("workers", workers, fix="x", needs=["broker"])

    assert ran == []
    assert skipped == Result("workers", "skip", "not checked: broker failed")


def test_the_report_gives_each_failure_its_fix() -> None:
    text = doctor.render(
        "shop", [Result("broker", "pass", "answers"), Result("queues", "fail", "none", "start")]
    )

    assert text.splitlines() == [
        "shop: PASS  broker              answers",
        "shop: FAIL  queues              none",
        "shop:                           fix: start",
    ]


# --- packages -------------------------------------------------------------------------


def test_an_installed_app_has_all_its_requirements() -> None:
    assert doctor.missing_requirements("shared") == []
    assert doctor.check_packages(Doctor(), "shared").ok


def test_a_missing_or_too_old_requirement_is_named() -> None:
    requires = {
        "some-app": ["celery[redis]>=99", "no-such-package-at-all>=1", "pytest; extra == 'dev'"],
    }
    with mock.patch("shared.doctor.metadata.requires", lambda name: requires.get(name, [])):
        missing = doctor.missing_requirements("some-app")

    assert len(missing) == 2
    assert missing[0].startswith("celery[redis]>=99 (5.")
    assert missing[1] == "no-such-package-at-all>=1 (not installed)"


def test_the_extras_asked_for_are_required_too() -> None:
    requires = {"some-app": ["celery[redis]"], "celery": ["no-such-client; extra == 'redis'"]}
    with mock.patch("shared.doctor.metadata.requires", lambda name: requires.get(name, [])):
        assert doctor.missing_requirements("some-app") == ["no-such-client (not installed)"]


def test_an_app_that_is_not_installed_fails_the_package_check() -> None:
    result = doctor.check_packages(Doctor(), "no-such-app")

    assert result.status == "fail"
    assert result.detail == "no-such-app itself is not installed"


# --- the broker -------------------------------------------------------------------------


def test_the_broker_url_must_come_from_the_environment(
    app_for: Callable[..., Celery], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = app_for("redis://127.0.0.1:6390/0")
    assert doctor.check_broker_configured(app) == "redis://127.0.0.1:6390/0"

    monkeypatch.delenv("CELERY_BROKER_URL")
    with pytest.raises(CheckFailedError, match="CELERY_BROKER_URL is not set"):
        doctor.check_broker_configured(app)


def test_celerys_own_default_broker_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    bare = Celery("bare")

    with pytest.raises(CheckFailedError, match=r"amqp://guest@localhost"):
        doctor.check_broker_configured(bare)

    monkeypatch.setenv("CELERY_BROKER_URL", "amqp://guest@localhost//")
    bare.conf.update(broker_url="amqp://guest@localhost//")
    with pytest.raises(CheckFailedError, match="not a Redis URL"):
        doctor.check_broker_configured(bare)


def test_a_live_redis_answers(redis_url: str, app_for: Callable[..., Celery]) -> None:
    assert doctor.check_broker_answers(app_for(f"{redis_url}/0")).endswith("answers PING")


def test_a_broker_that_refuses_fails_at_once(app_for: Callable[..., Celery]) -> None:
    started = time.monotonic()
    with pytest.raises(CheckFailedError, match="does not answer"):
        doctor.check_broker_answers(app_for(f"redis://127.0.0.1:{free_port()}/0"))
    assert time.monotonic() - started < 2


def test_a_silent_broker_fails_within_its_timeout(
    silent_broker: str, app_for: Callable[..., Celery]
) -> None:
    started = time.monotonic()
    with pytest.raises(CheckFailedError, match="accepts connections but does not answer"):
        doctor.check_broker_answers(app_for(silent_broker), timeout=1)
    assert time.monotonic() - started < 3


# --- tasks and queues ----------------------------------------------------------------------


def test_a_task_sent_by_a_name_no_module_registers_is_named(
    app_for: Callable[..., Celery],
) -> None:
    app = app_for("redis://127.0.0.1:6390/0")

    @app.task(name="app.known")
    def known() -> None: ...

    assert doctor.check_tasks_registered(app, ["app.known"]) == "1 tasks registered"
    with pytest.raises(CheckFailedError, match=r"not registered: app\.typo"):
        doctor.check_tasks_registered(app, lambda: ["app.known", "app.typo"])


def test_the_routed_queues_are_the_default_and_every_named_one(
    app_for: Callable[..., Celery],
) -> None:
    app = app_for("redis://127.0.0.1:6390/0", queue="main")
    app.conf.task_routes = {"app.mail": {"queue": "mail"}, "app.slow": {"queue": "slow"}}

    assert doctor.routed_queues(app) == {"main", "mail", "slow"}


@pytest.fixture(scope="module")
def worker(redis_url: str) -> Iterator[str]:
    """A real worker of `shared-tests`, on database 3 of the session's Redis; yields its broker."""
    broker = f"{redis_url}/3"
    env = {"CELERY_BROKER_URL": broker, "CELERY_RESULT_BACKEND_URL": f"{redis_url}/4"}
    with start_worker("worker_app", queue=QUEUE, cwd=HERE, env=env, timeout=90):
        yield broker


@pytest.mark.integration
def test_a_queue_a_worker_consumes_passes(worker: str, app_for: Callable[..., Celery]) -> None:
    assert doctor.check_queues_consumed(app_for(worker)).startswith(f"{QUEUE} consumed by ")


@pytest.mark.integration
def test_a_queue_no_worker_consumes_is_named_with_the_workers_that_answered(
    worker: str, app_for: Callable[..., Celery]
) -> None:
    with pytest.raises(CheckFailedError) as failed:
        doctor.check_queues_consumed(app_for(worker, queue="nobody-reads-this"))

    assert "no worker consumes 'nobody-reads-this'" in str(failed.value)
    assert f"consumes {QUEUE}" in str(failed.value)


@pytest.mark.integration
def test_serializers_the_worker_accepts_pass(worker: str, app_for: Callable[..., Celery]) -> None:
    assert doctor.check_serializers(app_for(worker)).startswith("'json' sent, accepted by ")


@pytest.mark.integration
def test_a_serializer_the_worker_refuses_is_named(
    worker: str, app_for: Callable[..., Celery]
) -> None:
    app = app_for(worker)
    app.conf.task_serializer = "pickle"

    with pytest.raises(CheckFailedError, match=r"accepts \['json'\], not 'pickle'"):
        doctor.check_serializers(app)


@pytest.mark.integration
def test_results_the_sender_cannot_read_are_named(
    worker: str, app_for: Callable[..., Celery]
) -> None:
    app = app_for(worker)
    app.conf.result_accept_content = ["pickle"]

    with pytest.raises(CheckFailedError, match="answers in 'json', unreadable here"):
        doctor.check_serializers(app)


# --- the result backend --------------------------------------------------------------------


def test_a_live_result_backend_stores_and_reads(
    redis_url: str, app_for: Callable[..., Celery]
) -> None:
    app = app_for(f"{redis_url}/0", backend_url=f"{redis_url}/1")

    assert doctor.check_result_backend(app) == "RedisBackend stores and reads results"


def test_a_result_backend_that_does_not_answer_fails_the_check(
    redis_url: str, app_for: Callable[..., Celery]
) -> None:
    app = app_for(f"{redis_url}/0", backend_url=f"redis://127.0.0.1:{free_port()}/1")
    checks = Doctor()
    doctor.celery_checks(
        checks, app, expected_tasks=[], worker_service="w", worker_command="celery worker"
    )

    results = {result.name: result for result in checks.results}
    assert results["result backend"].status == "fail"
    assert results["broker answers"].ok


# --- the command ----------------------------------------------------------------------------


def test_the_command_fails_on_an_app_that_is_not_installed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert doctor.main(["no-such-app", "no_such_app.doctor"]) == 1
    assert "no_such_app: FAIL  packages" in capsys.readouterr().out


def test_the_command_reports_an_app_that_does_not_load(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert doctor.main(["shared", "shared.no_such_module"]) == 1
    out = capsys.readouterr().out
    assert "shared: FAIL  app loads           ModuleNotFoundError" in out


@pytest.mark.integration
def test_a_task_the_worker_does_not_know_is_named(
    worker: str, app_for: Callable[..., Celery]
) -> None:
    app = app_for(worker)

    known = ["worker_app.count_to", "celery.backend_cleanup"]  # a built-in: every worker has it
    assert doctor.check_workers_know_tasks(app, known).endswith("know all 1")
    with pytest.raises(CheckFailedError, match=r"does not know worker_app\.not_there"):
        doctor.check_workers_know_tasks(
            app, lambda: ["worker_app.count_to", "worker_app.not_there"]
        )
