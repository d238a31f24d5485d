"""The timeline of each order's confirmation task, written as OrderEvent rows.

`TIMELINE` follows `send_order_confirmation` through Celery's signals
(shared/src/shared/timeline.py says which signal, in which process); checkout
records `committed` itself, from the same `on_commit` callback that publishes.
The order page shows the rows, oldest first.
"""

from __future__ import annotations

import contextlib
import threading

from django.db import IntegrityError, close_old_connections, transaction

from shared.timeline import Event, Timeline, first_argument
from shop.models import DETAIL_LENGTH, OrderEvent

CONFIRMATION_TASK = "shop.tasks.send_order_confirmation"


def record(event: Event) -> None:
    """Write `event` as a row of its order, in a transaction of its own."""
    if threading.current_thread() is not threading.main_thread():
        # The publisher's writer thread (shared.timeline.Writer): no request or task
        # around it closes its connection when it breaks or outlives CONN_MAX_AGE.
        close_old_connections()
    # The order may be gone (deleted in the admin): nothing left to show the event on.
    # atomic(): on its own it is the row's transaction; inside another, a savepoint.
    with contextlib.suppress(IntegrityError), transaction.atomic():
        OrderEvent.objects.create(
            order_id=event.subject,
            kind=event.kind,
            at=event.at,
            task_id=event.task_id,
            task_name=event.task_name,
            detail=event.detail[:DETAIL_LENGTH],
        )


TIMELINE = Timeline({CONFIRMATION_TASK: first_argument}, record)
