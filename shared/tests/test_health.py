from typing import Any

from shared.celery_app import create_celery_app
from shared.health import Check, check_broker, check_worker_roundtrip, report, run_check
from shared.settings import SharedSettings
from shared.testing import free_port


def test_a_probe_that_raises_is_a_failed_check() -> None:
    def probe() -> str:
        raise ConnectionError("refused")

    check = run_check("db", probe)

    assert not check.ok
    assert check.detail == "ConnectionError: refused"


def test_report_is_503_when_any_check_fails() -> None:
    body, status = report(Check("db", True, "", 0.0), Check("broker", False, "down", 0.0))

    assert status == 503
    assert body["status"] == "fail"
    assert [c["name"] for c in body["checks"]] == ["db", "broker"]


def test_report_is_200_when_every_check_passes() -> None:
    _, status = report(Check("db", True, "", 0.0))

    assert status == 200


def test_broker_check_passes_against_a_live_redis(redis_url: str) -> None:
    app = create_celery_app(
        "h", default_queue="h", settings=SharedSettings(celery_broker_url=redis_url)
    )

    assert check_broker(app).ok


def test_broker_check_fails_fast_when_nothing_listens() -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    app = create_celery_app("h", default_queue="h", settings=SharedSettings(celery_broker_url=dead))

    check = check_broker(app, timeout=1)

    assert not check.ok
    assert check.seconds < 10


def test_a_ping_nobody_answers_expires_instead_of_piling_up() -> None:
    sent: dict[str, Any] = {}

    class Unanswered:
        def get(self, timeout: float) -> str:
            raise TimeoutError("no worker answered")

    class Ping:
        def apply_async(self, **options: Any) -> Unanswered:
            sent.update(options)
            return Unanswered()

    check = check_worker_roundtrip(Ping(), timeout=0.5)  # type: ignore[arg-type]

    assert not check.ok
    assert sent["expires"] == 0.5
