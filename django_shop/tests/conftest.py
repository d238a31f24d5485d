from collections.abc import Callable, Iterator

import pytest

from config.celery_app import app as celery_app

pytest_plugins = ["shared.testing"]


@pytest.fixture
def use_broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Point this process's Celery app at another broker URL for one test."""

    def use(url: str) -> None:
        # Celery gives CELERY_BROKER_URL in the environment precedence over its
        # configuration, so that is the one place to change it.
        monkeypatch.setenv("CELERY_BROKER_URL", url)
        # Forget pooled connections to the previous broker: the reset Celery
        # itself does in a freshly forked process (private, so not in celery-types).
        celery_app._after_fork()  # type: ignore[attr-defined]

    yield use
    monkeypatch.undo()
    celery_app._after_fork()  # type: ignore[attr-defined]


#: The type of the `use_broker` fixture.
UseBroker = Callable[[str], None]
