"""The timeline of each order's confirmation task, written as OrderEvent rows.

`TIMELINE` follows `send_order_confirmation` through Celery's signals
(shared/src/shared/timeline.py says which signal, in which process); checkout
notes `committed` itself, in the same `on_commit` callback that publishes, and
the message carries it to the worker, which writes every row. The order page
shows the rows, oldest first.
"""

from __future__ import annotations

import contextlib

from django.db import IntegrityError, transaction

from shared.timeline import Event, Timeline, first_argument
from shop.models import DETAIL_LENGTH, OrderEvent

CONFIRMATION_TASK = "shop.tasks.send_order_confirmation"


def record(event: Event) -> None:
    """Write `event` as a row of its order, in a transaction of its own."""
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
