"""Structured events: structlog configured once, to `OUT/events.jsonl` and to the console.

Every event is one JSON object per line in events.jsonl with `event`, `timestamp` (ISO 8601,
UTC) and `level`. The console shows the same events rendered for people (or as JSON), minus
the per-request and per-candidate ones, which would scroll by hundreds per second. Event names
are the constants below; the README documents their fields.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from asyncgen.jsonl import LineAppender, settle_tail

RUN_STARTED = "run.started"
RUN_FINISHED = "run.finished"
RUN_PROGRESS = "run.progress"
RUN_STOPPING = "run.stopping"
RUN_UNPRICED = "run.unpriced"
RUN_KEY = "run.key"  # OpenRouter key check at the start
RUN_SIMULATOR = "run.simulator"  # no provider and no key: the built-in simulator serves
RUN_FIELDS = "run.fields"  # the run waits for the similarity fields still to write
RUN_CHECKPOINT = "run.checkpoint"  # checkpoints of OUT/summary.json stopped (rundir.checkpoint)
REQUEST_COMPLETED = "request.completed"
REQUEST_RETRY = "request.retry"
REQUEST_FAILED = "request.failed"
REQUEST_RESCUED = "request.rescued"  # answered by an earlier run's rescued answer, not sent
CANDIDATES_PARSED = "candidate.parsed"
TASK_REJECTED = "task.rejected"
TASK_ADMITTED = "task.admitted"
TASK_COMMITTED = "task.committed"
CLASSIFY_UNPARSEABLE = "classify.unparseable"
STORE_TORN_TAIL = "store.torn_tail_cut"
STORE_NEWLINE_ADDED = "store.newline_added"
BATCH_SUBMITTED = "batch.submitted"
BATCH_STATUS = "batch.status"
BATCH_COLLECTED = "batch.collected"
BATCH_REATTACHED = "batch.reattached"
BATCH_ABANDONED = "batch.abandoned"

# too frequent for a terminal; always in events.jsonl
QUIET_ON_CONSOLE = frozenset(
    {REQUEST_COMPLETED, REQUEST_RETRY, REQUEST_RESCUED, CANDIDATES_PARSED, TASK_REJECTED,
     TASK_ADMITTED, TASK_COMMITTED, CLASSIFY_UNPARSEABLE}
)
BULKY_FIELDS = ("config", "limiter", "queues", "rejected")
# --event-detail lean (the default): the per-candidate and per-request events without what
# `report` never reads (the texts, the status and attempt of an answered request, the level:
# info; the model stays, for the cost per model per stage), and the candidates rejected before
# any money was spent on them counted, not listed (`Lean`)
TEXT_FIELDS = ("instruction", "nearest", "score", "pool")
LEAN_DROPS: dict[str, frozenset[str]] = {
    TASK_ADMITTED: frozenset({*TEXT_FIELDS, "level"}),
    TASK_REJECTED: frozenset({"level"}),  # a paid-for job's failure keeps its instruction
    REQUEST_COMPLETED: frozenset({"status", "attempt", "level"}),
    TASK_COMMITTED: frozenset({"instances", "is_classification", "level"}),  # in tasks.jsonl
    CANDIDATES_PARSED: frozenset({"kept", "level"}),  # and `chat` when false
}
HOLD_S = 1.0  # the longest the lean log holds the counts of unpaid rejections
LEAN_EVENTS = frozenset({TASK_ADMITTED, TASK_REJECTED})  # the ones with candidate texts
# task.rejected reasons of candidates no request was sent for: the post-processing of a
# generation answer (selfinstruct.parsing.REJECT_REASONS) and the ROUGE-L filter (novelty.pool)
UNPAID_REASONS = frozenset({"length", "keyword", "bad_start", "program", "truncated", "empty",
                            "similar", "duplicate"})
REDACTED = "[redacted]"


def get_logger() -> Any:
    return structlog.get_logger("asyncgen")


class Redactor:
    """Replace any secret value that reached an event field (defence in depth)."""

    __slots__ = ("_secrets",)

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = tuple(s for s in secrets if len(s) >= 8)

    @property
    def active(self) -> bool:
        return bool(self._secrets)

    def __call__(self, logger: WrappedLogger, name: str, event_dict: EventDict) -> EventDict:
        for key, value in event_dict.items():
            event_dict[key] = self._scrub(value)
        return event_dict

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self._secrets:
                value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, dict):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._scrub(v) for v in value]
        return value


class UtcTimestamp:
    """`timestamp`: now in UTC as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (always with microseconds).

    The same ISO 8601 as structlog's TimeStamper(fmt="iso", utc=True) at a fraction of the
    cost: the date and time up to the second are formatted once per second, not per event.
    """

    __slots__ = ("_second", "_prefix")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, logger: WrappedLogger, name: str, event_dict: EventDict) -> EventDict:
        second, nanos = divmod(time.time_ns(), 1_000_000_000)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))
            self._second = second
        event_dict["timestamp"] = f"{self._prefix}{nanos // 1000:06d}Z"
        return event_dict


def _default(obj: Any) -> Any:
    if isinstance(obj, Path | BaseException):
        return str(obj)
    raise TypeError


_LINE = orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE


class EventFile:
    """The events.jsonl sink: one whole line per event (see asyncgen.jsonl).

    A run killed mid-write leaves a torn last line; the next run into the same directory cuts
    it before appending, so the file stays one JSON object per line.

    A write that fails (disk full, read-only, I/O error) must not crash whichever task logged:
    the first failure is kept in `fault`, `on_fault` is told (the run stops), and nothing more
    is written, so the file ends in at most one torn line, which the next run cuts.
    """

    __slots__ = ("path", "fault", "on_fault", "lean", "_lines")

    def __init__(self, path: Path, *, lean: bool = False) -> None:
        self.path = path
        self.lean = Lean() if lean else None  # --event-detail lean (the default)
        self.fault: OSError | None = None
        self.on_fault: Callable[[OSError], None] | None = None
        settle_tail(path)
        self._lines = LineAppender(path)

    def __call__(self, logger: WrappedLogger, name: str, event_dict: EventDict) -> EventDict:
        if self.fault is None:
            written = [event_dict] if self.lean is None else self.lean(event_dict)
            try:
                for event in written:
                    self._lines.write(orjson.dumps(event, default=_default, option=_LINE))
            except OSError as exc:
                self.fault = exc
                if self.on_fault is not None:
                    self.on_fault(exc)
        return event_dict

    def close(self) -> None:
        try:
            if self.fault is None and self.lean is not None:
                for event in self.lean.flush():
                    self._lines.write(orjson.dumps(event, default=_default, option=_LINE))
            self._lines.close()
        except OSError as exc:  # fsync after a fault: already reported, or now
            self.fault = self.fault or exc


def lean(event_dict: EventDict) -> EventDict:
    """One event without `LEAN_DROPS`' fields (a copy), as --event-detail lean writes it."""
    name = event_dict.get("event")
    drops = LEAN_DROPS.get(name)  # type: ignore[arg-type]
    if drops is None:
        return event_dict
    if name == CANDIDATES_PARSED and event_dict.get("chat") is False:
        drops = drops | {"chat"}  # report counts the answers with chat: true
    return {key: value for key, value in event_dict.items() if key not in drops}


class Lean:
    """--event-detail lean, event by event: what to write for each event logged.

    Candidates rejected for an `UNPAID_REASONS` reason are counted, not written one by one:
    their count per reason is held, across the other per-item events (`QUIET_ON_CONSOLE`),
    until the first event logged `HOLD_S` or more after the first of them, and written then as
    one `task.rejected` per reason with `count` and the timestamp of the last of them; an event
    of any other kind (run.progress, a stop, the end) writes them first, and `flush` at the end
    of the file. A kill -9 loses the counts held (about `HOLD_S` of rejections in a busy run, up
    to the next run.progress in a quiet one), as it may tear the last line. The rest is
    `lean`."""

    __slots__ = ("_held", "_since", "_clock")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._held: dict[str, EventDict] = {}
        self._since = 0.0  # when the first of the counts held was taken
        self._clock = clock

    def __call__(self, event_dict: EventDict) -> list[EventDict]:
        name = event_dict.get("event")
        reason = event_dict.get("reason")
        written = []
        if self._held and (name not in QUIET_ON_CONSOLE
                           or self._clock() - self._since >= HOLD_S):
            written = self.flush()
        if name == TASK_REJECTED and reason in UNPAID_REASONS:
            held = self._held.get(reason)
            if held is None:
                if not self._held:
                    self._since = self._clock()
                self._held[reason] = {"reason": reason, "count": 1, "event": TASK_REJECTED,
                                      "timestamp": event_dict.get("timestamp")}
            else:
                held["count"] += 1
                held["timestamp"] = event_dict.get("timestamp")
        else:
            written.append(lean(event_dict))
        return written

    def flush(self) -> list[EventDict]:
        """The held counts, as events (and none held any more)."""
        held, self._held = list(self._held.values()), {}
        return held


def lean_log(logged: Iterable[EventDict],
             clock: Callable[[], float] = time.monotonic) -> list[EventDict]:
    """A whole log as --event-detail lean writes it."""
    leaner = Lean(clock)
    written = [event for event_dict in logged for event in leaner(event_dict)]
    return written + leaner.flush()


class Console:
    """Where console lines go; a live status line (if any) is cleared before each one.

    A closed console (`asyncgen run ... | head -1`) is not a crash in whichever task logged:
    later lines go nowhere and `on_closed` is told once (the run stops as on a signal).
    """

    __slots__ = ("stream", "status", "on_closed")

    def __init__(self, stream: TextIO, status: StatusLine | None) -> None:
        self.stream = stream
        self.status = status
        self.on_closed: Callable[[], None] | None = None

    def msg(self, message: str) -> None:
        if not message:
            return
        try:
            if self.status is not None:
                self.status.clear()
            self.stream.write(message + "\n")
            self.stream.flush()
            if self.status is not None:
                self.status.redraw()
        except (BrokenPipeError, ValueError):  # ValueError: the stream was closed
            self._closed()

    def _closed(self) -> None:
        """The reader is gone: point the stream's descriptor at /dev/null, say so once."""
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), self.stream.fileno())
        except (OSError, ValueError):
            pass
        self.status = None
        callback, self.on_closed = self.on_closed, None
        if callback is not None:
            callback()

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


STATUS_MARGIN = 3  # columns left free: a full last column wraps, and Ctrl-C echoes "^C"


def fit(text: str, columns: int) -> str:
    """`text` cut to leave STATUS_MARGIN columns free, with "…" where it was cut."""
    width = max(columns - STATUS_MARGIN, 1)
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


class StatusLine:
    """One self-overwriting line on a terminal; only used when the console is a TTY.

    Each draw measures the terminal again (a resize takes effect at the next refresh) and cuts
    the line to its width, so it never wraps: a wrapped line could not be erased with one `\r`.
    """

    __slots__ = ("stream", "_text", "columns")

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._text = ""
        self.columns: Callable[[], int] = self._measure

    def _measure(self) -> int:
        try:
            return os.get_terminal_size(self.stream.fileno()).columns or 80
        except (OSError, ValueError):
            return 80

    def show(self, text: str) -> None:
        self._text = text
        self.redraw()

    def redraw(self) -> None:
        if self._text:
            self.stream.write("\r\x1b[2K" + fit(self._text, self.columns()))
            self.stream.flush()

    def clear(self) -> None:
        if self._text:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()

    def close(self) -> None:
        """Clear the line for good: nothing is redrawn after this."""
        self.clear()
        self._text = ""


HumanLines = Callable[[EventDict], str]  # an event in words (asyncgen.commands.console.Human)


class ConsoleRenderer:
    """The last step: the console line(s) for an event, or "" when the console skips it.

    `human` renders the human format of a run (commands.console); without one (outside a run)
    an event is one structlog key=value line.
    """

    __slots__ = ("_format", "_human", "_words")

    def __init__(self, console_format: str, human: HumanLines | None = None) -> None:
        self._format = console_format
        self._human = structlog.dev.ConsoleRenderer(colors=False, pad_event_to=24)
        self._words = human

    def __call__(self, logger: WrappedLogger, name: str, event_dict: EventDict) -> str:
        event = event_dict.get("event")
        if self._format == "none" or event in QUIET_ON_CONSOLE:
            return ""
        if event == REQUEST_FAILED and event_dict.get("error_kind") == "budget":
            return ""  # one per worker at the cap; run.stopping says it once
        if self._format == "json":
            return orjson.dumps(event_dict, default=_default,
                                option=orjson.OPT_NON_STR_KEYS).decode()
        if self._words is not None:
            return self._words(event_dict)
        for key in BULKY_FIELDS:  # for people: the nested details stay in events.jsonl
            event_dict.pop(key, None)
        for key in [k for k, v in event_dict.items() if v is None]:  # no `note=None` for people
            del event_dict[key]
        return self._human(logger, name, event_dict)


class _Chain:
    """The current run's processors. structlog is configured once, with this one object, so
    loggers can be cached on first use (a bound logger per call costs more than the event);
    a new run swaps `steps`, not the configuration."""

    __slots__ = ("steps",)

    def __init__(self) -> None:
        self.steps: tuple[Processor, ...] = (ConsoleRenderer("human"),)

    def __call__(self, logger: WrappedLogger, name: str, event_dict: EventDict) -> Any:
        result: Any = event_dict
        for step in self.steps:
            result = step(logger, name, result)
        return result


_CHAIN = _Chain()
_CONSOLE = Console(sys.stderr, None)
structlog.configure(
    processors=[_CHAIN],
    logger_factory=lambda *args: _CONSOLE,
    wrapper_class=structlog.make_filtering_bound_logger(0),
    cache_logger_on_first_use=True,
)


def configure(
    *,
    events_path: Path | None,
    console_format: str = "human",
    secrets: Iterable[str] = (),
    observers: Iterable[Processor] = (),
    stream: TextIO | None = None,
    on_console_closed: Callable[[], None] | None = None,
    human: Callable[[TextIO, bool], HumanLines] | None = None,
    lean_events: bool = False,
) -> tuple[EventFile | None, StatusLine | None]:
    """Point the events of a run at its events.jsonl and console. Returns the event file
    (close it) and the live status line (None unless the console is a terminal).

    The console is stdout for `json` (so `asyncgen run --log-format json | jq` works), else
    stderr; `on_console_closed` is called once if its reader goes away. `human(stream, live)`
    makes the renderer of the human format (`live`: a status line shows progress).
    """
    if stream is None:
        stream = sys.stdout if console_format == "json" else sys.stderr
    sink = EventFile(events_path, lean=lean_events) if events_path is not None else None
    status = StatusLine(stream) if console_format == "human" and stream.isatty() else None
    steps: list[Processor] = [
        structlog.processors.add_log_level,
        UtcTimestamp(),
    ]
    redactor = Redactor(secrets)
    if redactor.active:
        steps.append(redactor)
    steps += observers
    if sink is not None:
        steps.append(sink)
    words = human(stream, status is not None) if human and console_format == "human" else None
    steps.append(ConsoleRenderer(console_format, words))
    _CONSOLE.stream, _CONSOLE.status, _CONSOLE.on_closed = stream, status, on_console_closed
    _CHAIN.steps = tuple(steps)
    return sink, status


def close(sink: EventFile | None) -> None:
    """End a run's events: close its file and send later events to the console only."""
    _CHAIN.steps = (ConsoleRenderer("human"),)
    _CONSOLE.status, _CONSOLE.on_closed = None, None
    if sink is not None:
        sink.close()
