"""The task timeline: the life of a task as it happened, kept in the app's own rows.

Celery's signals say what happens to a task, each in the process where it
happens. `Timeline` connects them, for the tasks it is given, and hands each as
an `Event` to the app's `record` function, which writes a row next to the
order, export or report the task works on:

============  ====================  ==========================================
event         signal                sent in
============  ====================  ==========================================
published     after_task_publish    the publisher: the web app, a worker, beat
received      task_received         the worker's main process, at each delivery
started       task_prerun           the pool process that runs it
retried       task_retry            the pool process, with the reason and delay
succeeded     task_success          the pool process
failed        task_failure          the pool process, with the exception
============  ====================  ==========================================

The main process only notes the time of a receipt in the task's request: the
pool process records it with `started`, so the process that takes messages
off the broker never waits on a database.

The app records two more itself: `committed`, when the transaction that makes
the task's work exist has committed (before the publish: that order is the
point of `on_commit`), and `progress`, every quarter of the way
(`Timeline.progress`).

What the timeline makes visible: the commit comes before the publish; a retry
waits its backoff (retried, then started again after the delay); a redelivery
after a worker died is a second `received` of the same task id.

Recording is for people reading a page, never part of the work: a `record`
that fails is logged and the publish or task goes on. Each `record` writes in
its own short transaction, so a task that rolls back keeps its events.

The publisher's two events (`committed`, `published`) are written by a thread of
the process's own (`Writer`), not by the request that publishes: a web request
pays for putting them on an in-memory queue, not for a database commit (which
cost it 2 to 4 ms on SQLite, `make bench`'s enqueue figures). They are ordered
by their times, so a worker's `received` written first still shows after them.
Tests that read them at once turn it off (`Timeline.background = False`).
"""

from __future__ import annotations

import atexit
import enum
import logging
import os
import queue
import reprlib
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from celery import Task, signals

from shared.progress import Progress, percent

logger = logging.getLogger(__name__)


class Kind(enum.StrEnum):
    COMMITTED = "committed"
    PUBLISHED = "published"
    RECEIVED = "received"
    STARTED = "started"
    PROGRESS = "progress"
    RETRIED = "retried"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class Event:
    """One thing that happened to task `task_id`, which works on row `subject`."""

    subject: int
    kind: Kind
    at: datetime
    task_id: str = ""
    task_name: str = ""
    detail: str = ""


#: Gives the id of the row a task works on from the task's arguments, or None.
SubjectOf = Callable[[Sequence[Any], Mapping[str, Any]], int | None]
Record = Callable[[Event], None]


#: The message header that carries the time of the publish to after_task_publish.
PUBLISHED_AT = "timeline_published_at"
#: The request field that carries the time of a receipt to the pool process.
RECEIVED_AT = "timeline_received_at"
#: The request field that holds the quarter of the running task's last progress event.
QUARTER = "timeline_quarter"


def first_argument(args: Sequence[Any], kwargs: Mapping[str, Any]) -> int | None:
    """The subject of a task whose first argument is its row's id (`order_id`, ...)."""
    if args:
        return int(args[0])
    first = next(iter(kwargs.values()), None)
    return None if first is None else int(first)


def now() -> datetime:
    return datetime.now(UTC)


class Writer:
    """Calls `record` with each event put, on a daemon thread of this process.

    The thread starts at the first event in each process, so one forked from a
    process that had a writer (gunicorn's workers, Celery's pool) starts its
    own. What is still queued when the process exits is written first, for up
    to `drain_seconds`.
    """

    def __init__(self, record: Record, *, drain_seconds: float = 2.0) -> None:
        self.record = record
        self.drain_seconds = drain_seconds
        self._queue: queue.Queue[Event] = queue.Queue()
        self._pid: int | None = None
        self._lock = threading.Lock()

    def put(self, event: Event) -> None:
        if self._pid != os.getpid():
            self._start()
        self._queue.put(event)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until every event put so far is written (or `timeout` passes)."""
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        done.wait(timeout)

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._queue = queue.Queue()  # a forked child's copy may hold its parent's
            self._pid = os.getpid()
            threading.Thread(target=self._run, name="timeline-writer", daemon=True).start()
            atexit.register(self.flush, self.drain_seconds)

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            try:
                self.record(event)
            except Exception:
                logger.exception("timeline: could not record %s of %s", event.kind, event.subject)
            finally:
                self._queue.task_done()


class Timeline:
    """Records the timeline of the tasks named in `tasks` through `record`.

    `tasks` maps a task's name to how to find its subject in its arguments.
    Call `connect()` once in every process that publishes or runs them.
    """

    #: Write the publisher's events on the `Writer`'s thread (else in the caller).
    background = True

    def __init__(self, tasks: Mapping[str, SubjectOf], record: Record) -> None:
        self.tasks = dict(tasks)
        self.record = record
        self.writer = Writer(self._record)

    def connect(self) -> None:
        uid = f"shared.timeline.{id(self)}"
        signals.before_task_publish.connect(self._publishing, weak=False, dispatch_uid=uid)
        signals.after_task_publish.connect(self._published, weak=False, dispatch_uid=uid)
        signals.task_received.connect(self._received, weak=False, dispatch_uid=uid)
        signals.task_prerun.connect(self._started, weak=False, dispatch_uid=uid)
        signals.task_retry.connect(self._retried, weak=False, dispatch_uid=uid)
        signals.task_success.connect(self._succeeded, weak=False, dispatch_uid=uid)
        signals.task_failure.connect(self._failed, weak=False, dispatch_uid=uid)

    def disconnect(self) -> None:
        uid = f"shared.timeline.{id(self)}"
        for signal in (
            signals.before_task_publish,
            signals.after_task_publish,
            signals.task_received,
            signals.task_prerun,
            signals.task_retry,
            signals.task_success,
            signals.task_failure,
        ):
            signal.disconnect(dispatch_uid=uid)

    # What the app records itself.

    def committed(self, subject: int, detail: str = "") -> None:
        """Record that the transaction the task is published after has committed."""
        self._publisher_event(Event(subject=subject, kind=Kind.COMMITTED, at=now(), detail=detail))

    def progress(self, task: Task[Any, Any], subject: int, progress: Progress) -> None:
        """Record the progress of the running `task` each time it enters a new quarter."""
        task_id = str(task.request.id or "")
        quarter = percent(progress) // 25
        # Kept on the request, which is the running task's own under any pool.
        if getattr(task.request, QUARTER, None) == quarter or quarter in (0, 4):
            return  # 0 % is the start and 100 % the success: both have their own event
        setattr(task.request, QUARTER, quarter)
        self._record(
            Event(
                subject=subject,
                kind=Kind.PROGRESS,
                at=now(),
                task_id=task_id,
                task_name=str(task.name),
                detail=f"{percent(progress)} %: {progress['message']}".rstrip(": "),
            )
        )

    # Celery's signals.

    def _publishing(self, sender: str | None = None, headers: Any = None, **_: Any) -> None:
        # The time is taken before the message leaves: a worker may receive it
        # before after_task_publish runs. A failed publish records nothing.
        if headers is not None and (sender or headers.get("task")) in self.tasks:
            headers[PUBLISHED_AT] = now().isoformat()

    def _published(
        self,
        sender: str | None = None,
        headers: Any = None,
        body: Any = None,
        routing_key: str = "",
        **_: Any,
    ) -> None:
        headers = headers or {}
        name = sender or headers.get("task")
        if name not in self.tasks or PUBLISHED_AT not in headers:
            return
        if headers.get("retries"):
            return  # a retry publishes its task again: `retried` says so, with the delay
        args, kwargs = _arguments(body)
        detail = f"to the {routing_key} queue" if routing_key else ""
        if headers.get("eta"):
            detail += f", to run at {headers['eta']}"
        at = datetime.fromisoformat(headers[PUBLISHED_AT])
        task_id = str(headers.get("id", ""))
        self._task_event(name, task_id, args, kwargs, Kind.PUBLISHED, detail, at=at, later=True)

    def _received(self, request: Any = None, **_: Any) -> None:
        # The worker's main process: note the time, write nothing (see the module's doc).
        if request is not None and request.name in self.tasks:
            request.request_dict[RECEIVED_AT] = now().isoformat()

    def _started(
        self, task_id: str = "", task: Any = None, args: Any = (), kwargs: Any = None, **_: Any
    ) -> None:
        if task is None or task.name not in self.tasks:
            return
        request = task.request
        args, kwargs = args or (), kwargs or {}
        received_at = getattr(request, RECEIVED_AT, None)
        if received_at is not None:
            parts = [f"by {request.hostname}"]
            if request.eta:
                parts.append(f"held until {request.eta}")
            if (request.delivery_info or {}).get("redelivered"):
                parts.append("redelivered")
            at = datetime.fromisoformat(received_at)
            detail = ", ".join(parts)
            self._task_event(task.name, task_id, args, kwargs, Kind.RECEIVED, detail, at=at)
        detail = f"attempt {(request.retries or 0) + 1} on {request.hostname}"
        self._task_event(task.name, task_id, args, kwargs, Kind.STARTED, detail)

    def _retried(
        self, sender: Any = None, request: Any = None, reason: Any = None, **_: Any
    ) -> None:
        if sender is None or sender.name not in self.tasks or request is None:
            return
        detail = str(reason)  # "Retry in 5s: SMTPServerDisconnected(...)"
        args, kwargs = request.args or (), request.kwargs or {}
        self._task_event(sender.name, request.id, args, kwargs, Kind.RETRIED, detail)

    def _succeeded(self, sender: Any = None, result: Any = None, **_: Any) -> None:
        if sender is None or sender.name not in self.tasks:
            return
        request = sender.request
        args, kwargs = request.args or (), request.kwargs or {}
        if isinstance(result, str):  # a StrEnum too: its value, not its repr
            result = str(result)
        detail = "" if result is None else f"returned {reprlib.repr(result)}"
        self._task_event(sender.name, request.id, args, kwargs, Kind.SUCCEEDED, detail)

    def _failed(
        self,
        sender: Any = None,
        task_id: str = "",
        exception: BaseException | None = None,
        args: Any = (),
        kwargs: Any = None,
        **_: Any,
    ) -> None:
        if sender is None or sender.name not in self.tasks:
            return
        detail = f"{type(exception).__name__}: {exception}" if exception is not None else ""
        self._task_event(sender.name, task_id, args or (), kwargs or {}, Kind.FAILED, detail)

    def _task_event(
        self,
        name: str,
        task_id: str,
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        kind: Kind,
        detail: str,
        *,
        at: datetime | None = None,
        later: bool = False,
    ) -> None:
        try:
            subject = self.tasks[name](args, kwargs)
        except (TypeError, ValueError, IndexError, KeyError):
            logger.warning("timeline: no subject in the arguments of %s[%s]", name, task_id)
            return
        if subject is None:
            return
        at = at or now()
        event = Event(subject, kind, at, task_id=task_id, task_name=name, detail=detail)
        if later:
            self._publisher_event(event)
        else:
            self._record(event)

    def _publisher_event(self, event: Event) -> None:
        if self.background:
            self.writer.put(event)
        else:
            self._record(event)

    def _record(self, event: Event) -> None:
        try:
            self.record(event)
        except Exception:
            logger.exception("timeline: could not record %s of %s", event.kind, event.subject)


@dataclass(frozen=True)
class Row:
    """An event as a timeline table shows it."""

    kind: str
    at: str  # ISO 8601, for <time datetime>
    time: str  # 14:03:07.125 (UTC)
    since: str  # "+0.012 s" since the event before, "" for the first
    detail: str
    task: str  # the task id's first 8 characters
    task_name: str


def rows(events: Iterable[Any]) -> list[Row]:
    """Table rows for events in order (anything with kind, at, detail, task_id, task_name)."""
    shown: list[Row] = []
    before: datetime | None = None
    for event in events:
        # A naive time is UTC: what SQLite gives back for a timezone-aware column.
        at = event.at.astimezone(UTC) if event.at.tzinfo else event.at.replace(tzinfo=UTC)
        since = "" if before is None else f"+{(at - before).total_seconds():.3f} s"
        shown.append(
            Row(
                kind=str(event.kind),
                at=at.isoformat(),
                time=at.strftime("%H:%M:%S.%f")[:-3],
                since=since,
                detail=event.detail,
                task=(event.task_id or "")[:8],
                task_name=event.task_name or "",
            )
        )
        before = at
    return shown


def _arguments(body: Any) -> tuple[Sequence[Any], Mapping[str, Any]]:
    """The args and kwargs of a published message body (protocol 2: args, kwargs, embed)."""
    if isinstance(body, (tuple, list)) and len(body) >= 2:
        return tuple(body[0] or ()), dict(body[1] or {})
    return (), {}
