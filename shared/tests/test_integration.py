"""A real worker and a real Redis: ids in the worker's log, progress read back, results."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.progress import read_progress
from shared.request_id import bind_request_id
from shared.testing import start_worker, wait_until

pytestmark = pytest.mark.integration
HERE = Path(__file__).parent


@pytest.fixture
def worker(redis_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    env = {"CELERY_BROKER_URL": f"{redis_url}/0", "CELERY_RESULT_BACKEND_URL": f"{redis_url}/1"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    log = tmp_path / "worker.log"
    with start_worker("worker_app", queue="shared-tests", cwd=HERE, env=env, log=log):
        yield log


def test_request_id_and_task_id_reach_the_worker_log(worker: Path) -> None:
    import worker_app

    with bind_request_id("req-integration-1"):
        result = worker_app.count_to.delay(3)

    assert result.get(timeout=15) == 3
    line = next(line for line in worker.read_text().splitlines() if "counting to 3" in line)
    assert f"[req=req-integration-1 task={result.id}]" in line


def test_progress_is_read_back_while_the_task_runs(worker: Path) -> None:
    import worker_app

    result = worker_app.count_to.delay(4, hold=3)

    progress = wait_until(
        lambda: (p := read_progress(result))["state"] == "PROGRESS" and p["current"] == 3 and p,
        timeout=15,
    )
    assert progress == {
        "state": "PROGRESS",
        "current": 3,
        "total": 4,
        "message": "step 3",
        "percent": 75,
    }
    assert result.get(timeout=15) == 4
    assert read_progress(result)["percent"] == 100
