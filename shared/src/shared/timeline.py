"""The task timeline: the life of a task as it happened, kept in the app's own rows.

Celery's signals say what happens to a task, each in the process where it
happens. `Timeline` connects them, for the tasks it is given, and hands each as
an `Event` to the app's `record` function, which writes a row next to the
order, export or report the task works on:

============  ====================  ==========================================
event         timed by              in
============  ====================  ==========================================
committed     `Timeline.committed`  the app, once its transaction committed
published     before_task_publish   the publisher: the web app, a worker, beat
received      task_received         the worker's main process, at each delivery
started       task_prerun           the pool process that runs it
progress      `Timeline.progress`   the pool process, each quarter of the way
retried       task_retry            the pool process, with the reason and delay
succeeded     task_success          the pool process, with what it returned
failed        task_failure          the pool process, with the exception
============  ====================  ==========================================

Every event is written by the pool process that runs the task. The publisher
only stamps the times of the commit and of the publish into the message's
headers, and the worker's main process the time of the receipt into the
task's request; the pool process writes them, with `started`, at the first
delivery of the message (a redelivered one carries the same stamps, and
writes only its own receipt). So the web request that publishes, and the
process that takes messages off the broker, never wait on a database: a row
per publish cost a request 2 to 4 ms on SQLite (`make bench`, enqueue). The
price: a message that no worker ever takes shows nothing on the page, which
is what `make doctor` is for (a queue nobody consumes).

What the timeline makes visible: the commit comes before the publish (the
point of `on_commit`); a retry waits its backoff (retried, then started again
after the delay); a redelivery after a worker died is a second `received` of
the same task id.

Recording is for people reading a page, never part of the work: a `record`
that fails is logged and the task goes on. Each `record` writes in its own
short transaction, so a task that rolls back keeps its events.
"""

from __future__ import annotations

import enum
import logging
import reprlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
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

#: The message headers that carry the times of the commit and of the publish,
#: and the commit's detail, to the worker (each also a field of its request).
COMMITTED_AT = "timeline_committed_at"
COMMITTED_DETAIL = "timeline_committed_detail"
PUBLISHED_AT = "timeline_published_at"
#: The request field that carries the time of a receipt to the pool process.
RECEIVED_AT = "timeline_received_at"
#: The request field that holds the quarter of the running task's last progress event.
QUARTER = "timeline_quarter"

#: The commit noted by `Timeline.committed` and not yet published:
#: (subject, time, detail). A context variable: each thread and each asyncio
#: task has its own, as each request does.
_commit: ContextVar[tuple[int, str, str] | None] = ContextVar("timeline_commit", default=None)


def first_argument(args: Sequence[Any], kwargs: Mapping[str, Any]) -> int | None:
    """The subject of a task whose first argument is its row's id (`order_id`, ...)."""
    if args:
        return int(args[0])
    first = next(iter(kwargs.values()), None)
    return None if first is None else int(first)


def now() -> datetime:
    return datetime.now(UTC)


class Timeline:
    """Records the timeline of the tasks named in `tasks` through `record`.

    `tasks` maps a task's name to how to find its subject in its arguments.
    Call `connect()` once in every process that publishes or runs them.
    """

    def __init__(self, tasks: Mapping[str, SubjectOf], record: Record) -> None:
        self.tasks = dict(tasks)
        self.record = record

    def connect(self) -> None:
        uid = f"shared.timeline.{id(self)}"
        signals.before_task_publish.connect(self._publishing, weak=False, dispatch_uid=uid)
        signals.task_received.connect(self._received, weak=False, dispatch_uid=uid)
        signals.task_prerun.connect(self._started, weak=False, dispatch_uid=uid)
        signals.task_retry.connect(self._retried, weak=False, dispatch_uid=uid)
        signals.task_success.connect(self._succeeded, weak=False, dispatch_uid=uid)
        signals.task_failure.connect(self._failed, weak=False, dispatch_uid=uid)

    # What the app notes itself.

    def committed(self, subject: int, detail: str = "") -> None:
        """Note that the transaction `subject`'s task is about to be published after has
        committed: the next publish of a task of `subject` here carries the time."""
        _commit.set((subject, now().isoformat(), detail))

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

    def _publishing(
        self, sender: str | None = None, headers: Any = None, body: Any = None, **_: Any
    ) -> None:
        # The publisher: stamp the message, write nothing. The time is taken
        # before the message leaves, so it is before any worker's receipt.
        if headers is None or (sender or headers.get("task")) not in self.tasks:
            return
        if headers.get("retries"):
            return  # a retry publishes its task again: `retried` says so, with the delay
        headers[PUBLISHED_AT] = now().isoformat()
        commit = _commit.get()
        if commit is None:
            return
        _commit.set(None)
        name = sender or headers["task"]
        subject, at, detail = commit
        if self._subject(name, str(headers.get("id", "")), *_arguments(body)) == subject:
            headers[COMMITTED_AT], headers[COMMITTED_DETAIL] = at, detail

    def _received(self, request: Any = None, **_: Any) -> None:
        # The worker's main process: note the time, write nothing.
        if request is not None and request.name in self.tasks:
            request.request_dict[RECEIVED_AT] = now().isoformat()

    def _started(
        self, task_id: str = "", task: Any = None, args: Any = (), kwargs: Any = None, **_: Any
    ) -> None:
        if task is None or task.name not in self.tasks:
            return
        request = task.request
        args, kwargs = args or (), kwargs or {}
        subject = self._subject(task.name, task_id, args, kwargs)
        if subject is None:
            return
        redelivered = bool((request.delivery_info or {}).get("redelivered"))

        def event(kind: Kind, at: str | None, detail: str) -> None:
            when = datetime.fromisoformat(at) if at else now()
            self._record(Event(subject, kind, when, task_id, task.name, detail))

        stamped = {field: getattr(request, field, None) for field in (COMMITTED_AT, PUBLISHED_AT)}
        # Only the first delivery of the first message writes them: a redelivered
        # one, or a retry's (which may carry the stamps along), finds them written.
        if not redelivered and not request.retries:
            if stamped[COMMITTED_AT]:
                event(Kind.COMMITTED, stamped[COMMITTED_AT], getattr(request, COMMITTED_DETAIL, ""))
            if stamped[PUBLISHED_AT]:
                queue = (request.delivery_info or {}).get("routing_key") or ""
                detail = f"to the {queue} queue" if queue else ""
                if request.eta:
                    detail += f", to run at {request.eta}"
                event(Kind.PUBLISHED, stamped[PUBLISHED_AT], detail)
        received_at = getattr(request, RECEIVED_AT, None)
        if received_at is not None:
            parts = [f"by {request.hostname}"]
            if request.eta:
                parts.append(f"held until {request.eta}")
            if redelivered:
                parts.append("redelivered")
            event(Kind.RECEIVED, received_at, ", ".join(parts))
        event(Kind.STARTED, None, f"attempt {(request.retries or 0) + 1} on {request.hostname}")

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

    def _subject(
        self, name: str, task_id: str, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> int | None:
        try:
            return self.tasks[name](args, kwargs)
        except (TypeError, ValueError, IndexError, KeyError):
            logger.warning("timeline: no subject in the arguments of %s[%s]", name, task_id)
            return None

    def _task_event(
        self,
        name: str,
        task_id: str,
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        kind: Kind,
        detail: str,
    ) -> None:
        subject = self._subject(name, task_id, args, kwargs)
        if subject is not None:
            self._record(Event(subject, kind, now(), task_id, name, detail))

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
