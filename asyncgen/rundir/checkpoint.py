"""The run's checkpointer: OUT/summary.json kept current while the run writes.

A kill -9 leaves no clean end (`closing.settle`) to fold the run's lines into the summary; without
checkpoints the next resume and every `report` would fold the killed run's whole tasks.jsonl,
events.jsonl and journal.jsonl again. Every `INTERVAL_S` (longer when a step took long: the
checkpointer spends at most 1/`SHARE` of the run's time), in a worker thread, it folds the
whole lines each file gained since its last step (`summary.advance`, hashing them on from
where it was, so nothing is read twice) and replaces the summary with its folds.

While the run runs it is the summary's only writer; the files stay their writers' (the filter:
tasks.jsonl and journal.jsonl; the event sink: events.jsonl): it only reads them, and a line
still being written is left for the next step. Readers validate the summary against the files
as before (length and SHA-256 of the prefix it covers): a checkpoint can make a read faster,
never different. A step that fails (a line it cannot fold, an I/O error) ends checkpointing
for the run; the summary is never needed.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import anyio

from asyncgen.errors import UsageError
from asyncgen.observe import events
from asyncgen.rundir import journal as worklog
from asyncgen.rundir import layout, summary, tally
from asyncgen.rundir import spend as spending
from asyncgen.rundir.summary import Folded, TaskFold
from asyncgen.rundir.tally import EventTally

log = events.get_logger()

INTERVAL_S = 10.0  # at most this much of a killed run is left to fold after it
SHARE = 20  # a step may take at most 1/SHARE of the time, in CPU (not its pauses, nor its
# waits for the GIL: by the wall clock a step behind a busy loop looked 5x longer than it was)
STEP_BYTES = 1 << 25  # read per file and step at most: the first step of a big file stays short
# A periodic step folds ~10 s of lines in Python (~0.1-0.3 s at 700 requests a second),
# holding the GIL. Each time the event loop's thread gives the GIL up (a write, a send, a
# poll) it then waits up to a switch interval for the folding thread: a loop turn of many
# writes stalled 50-70 ms behind one step. So a periodic step works in bursts of
# PAUSE_EVERY lines (~10 ms of folding) with PAUSE_S between them, GIL released: a loop
# turn overlaps at most about one burst, and the step takes about five times as long.
PAUSE_EVERY = 2048
PAUSE_S = 0.04


_Add = Callable[[Any, dict[str, Any], str], None]


def _as_is(add: _Add) -> _Add:
    return add


def _paced(add: _Add) -> _Add:
    """`add`, sleeping PAUSE_S (the GIL released) after every PAUSE_EVERY lines."""
    lines = 0

    def paced_add(fold: Any, obj: dict[str, Any], where: str) -> None:
        nonlocal lines
        add(fold, obj, where)
        lines += 1
        if lines % PAUSE_EVERY == 0:
            time.sleep(PAUSE_S)
    return paced_add


def _empty(fold: Any) -> Folded[Any]:
    digest = hashlib.sha256()
    return Folded(fold, 0, 0, digest.hexdigest(), None, 0, digest)


class Checkpointer:
    """Folds of tasks.jsonl, events.jsonl and journal.jsonl, advanced and written out.

    The only writer of OUT/summary.json while a run holds the directory; its folds are its
    own (advanced in its worker thread), the run reads none of them."""

    __slots__ = ("out", "tasks", "events", "journal", "interval_s", "steps", "failed",
                 "step_cpu_s", "work", "spend", "compactions", "_events_part", "_compacted",
                 "_spend_compacted", "_settled_upto")

    def __init__(self, out: Path, tasks: Folded[TaskFold],
                 events_part: Mapping[str, Any] | None, *,
                 interval_s: float | None = None, work: worklog.Journal | None = None,
                 spend: spending.SpendJournal | None = None) -> None:
        """`tasks`: tasks.jsonl as the run found it (copied: the pool reads its instructions);
        `events_part`: the summary's events part as the run found it (validated at the first
        step, in the worker thread: it hashes the file). Start after the journal's rewrite.
        `work`, `spend`: the filter's journal handle and the budget's spend journal, to compact
        them (asyncgen.rundir.journal, asyncgen.rundir.spend)."""
        fold = replace(tasks.fold, instructions=list(tasks.fold.instructions),
                       runs=dict(tasks.fold.runs))
        digest = tasks.digest.copy() if tasks.digest is not None else None
        self.out = out
        self.tasks = replace(tasks, fold=fold, digest=digest, torn_line=None)
        self.events: Folded[EventTally] | None = None
        self.journal: Folded[worklog.Backlog] = _empty(worklog.Backlog())
        self.interval_s = INTERVAL_S if interval_s is None else interval_s
        self.steps = 0
        self.failed: BaseException | None = None
        self.step_cpu_s = 0.0  # the last step's CPU time (its thread's)
        self._events_part = events_part
        self.work = work
        self.spend = spend
        self.compactions = 0
        path = out / layout.JOURNAL_FILE
        self._compacted = path.stat().st_size if path.is_file() else 0  # bytes, last time
        path = out / layout.SPEND_FILE
        self._spend_compacted = path.stat().st_size if path.is_file() else 0
        # tasks before this one were committed before any job the journal holds open was
        # (it was settled against them when the run started, and at each compaction since)
        self._settled_upto = len(self.tasks.fold)

    def __repr__(self) -> str:
        events_lines = self.events.lines if self.events is not None else None
        return (f"<Checkpointer steps={self.steps} tasks={self.tasks.lines} "
                f"events={events_lines} journal={self.journal.lines} failed={self.failed!r}>")

    @property
    def usable(self) -> bool:
        """Whether its folds are whole (no step failed, so nothing was skipped)."""
        return self.failed is None and self.tasks.digest is not None

    async def run(self) -> None:
        """Checkpoint every interval until cancelled (a step under way finishes first)."""
        wait = self.interval_s
        while self.usable:
            await anyio.sleep(wait)
            try:
                await anyio.to_thread.run_sync(partial(self.step, polite=True))
                if self._compactable():
                    await self._compact()
                if self._spend_compactable():
                    await self._compact_spend()
            except (UsageError, OSError, ValueError) as exc:
                self.failed = exc
                log.warning(events.RUN_CHECKPOINT, error=str(exc),
                            message="checkpoints of OUT/summary.json stopped; the next run "
                            "or report folds this run's lines itself")
                return
            wait = max(self.interval_s, self.step_cpu_s * SHARE)

    def step(self, *, limit: int | None = STEP_BYTES, journal_part: bool = True,
             polite: bool = False) -> None:
        """Fold what the files gained (about `limit` bytes of each at most) and write the
        summary (without the journal's part when it is about to be rewritten). `polite`:
        pause now and then for the event loop (see PAUSE_EVERY)."""
        started = time.thread_time()
        out = self.out
        paced = _paced if polite else _as_is
        self._advance(out / layout.TASKS_FILE, self.tasks, paced(TaskFold.add), limit)
        path = out / layout.EVENTS_FILE
        if self.events is None:
            if path.is_file():
                self.events = summary.fold_file(
                    path, self._events_part, EventTally, tally.tally_from_state,
                    paced(tally.fold_event), live=True, limit=limit)
        else:
            self._advance(path, self.events, paced(tally.fold_event), limit)
        self._advance(out / layout.JOURNAL_FILE, self.journal, paced(worklog.add), limit)
        parts: dict[str, Any] = {"tasks": self.tasks.part(self.tasks.fold.state())}
        if self.events is not None:
            parts["events"] = self.events.part(tally.tally_state(self.events.fold))
        if journal_part:
            parts["journal"] = self.journal.part(self.journal.fold.state())
        summary.write_summary(out, parts)
        self.steps += 1
        self.step_cpu_s = time.thread_time() - started

    def _compactable(self) -> bool:
        """Whether the journal grew enough since it was last compacted (asyncgen.rundir.journal)."""
        if self.work is None:
            return False
        size = self.journal.length  # what the last step folded
        return size >= max(worklog.COMPACT_BYTES, 4 * self._compacted)

    async def _compact(self) -> None:
        """Replace the folded lines of the journal with what is still open in them."""
        assert self.work is not None
        covered = self.journal.length
        staged = await anyio.to_thread.run_sync(self._stage)
        self._compacted = staged.stat().st_size
        self.work.compact(staged, covered)  # on the loop: between two writes of the filter
        self.journal = _empty(worklog.Backlog())  # the next step folds the new file
        self.compactions += 1

    def _spend_compactable(self) -> bool:
        if self.spend is None:
            return False
        size = (self.out / layout.SPEND_FILE).stat().st_size
        return size >= max(spending.COMPACT_BYTES, 4 * self._spend_compacted)

    async def _compact_spend(self) -> None:
        """Replace the settled reservations of the spend journal with the totals."""
        assert self.spend is not None
        staged, covered = await anyio.to_thread.run_sync(
            spending.stage, self.out / layout.SPEND_FILE)
        self._spend_compacted = staged.stat().st_size
        self.spend.compact(staged, covered)  # on the loop: between two writes of the budget
        self.compactions += 1

    def _stage(self) -> Path:
        """The settled fold of the journal's folded lines, staged beside it (a thread). Only
        the tasks committed since the last settling can close one of its jobs: a set of a
        big pool's instructions would hold the GIL for tens of ms."""
        backlog = worklog.Backlog.from_state(self.journal.fold.state())  # a copy
        upto = len(self.tasks.fold)
        backlog.settle(set(self.tasks.fold.instructions[self._settled_upto:upto]))
        self._settled_upto = upto
        return worklog.stage(self.out / layout.JOURNAL_FILE, backlog)

    @staticmethod
    def _advance(path: Path, folded: Folded[Any], add: Any, limit: int | None) -> None:
        if path.is_file():
            summary.advance(path, folded, add, limit)

    def final(self) -> worklog.Backlog:
        """The last step, once the run has closed its files: everything folded and written
        (the journal's part left out: the journal is compacted next); the journal's fold."""
        self.step(limit=None, journal_part=False)
        return self.journal.fold
