"""The run directory's clean end: what the run appended folded into OUT/summary.json, the
work journal compacted to what is still open."""

from __future__ import annotations

from pathlib import Path

from asyncgen.errors import UsageError
from asyncgen.rundir import journal as worklog
from asyncgen.rundir import layout, summary
from asyncgen.rundir.checkpoint import Checkpointer
from asyncgen.rundir.tally import fold_events, tally_state


def settle(out: Path, checkpointer: Checkpointer | None = None) -> None:
    """Leave the directory quick to resume and report: fold what this run appended into
    OUT/summary.json and compact the work journal to what is still open (what the next run
    would do first). Both are the files' own folds, so nothing is lost when this is skipped
    (a kill -9, a stop at once) or fails: the next reader folds the rest itself. The run's
    checkpointer, when its folds are whole, has folded most of it already."""
    try:
        if checkpointer is not None and checkpointer.usable:
            backlog = checkpointer.final()
            backlog.settle(set(checkpointer.tasks.fold.instructions))
            if (out / layout.JOURNAL_FILE).is_file():
                worklog.rewrite(out / layout.JOURNAL_FILE, backlog)
            return
        before = summary.read_summary(out)
        tasks = summary.fold_tasks(out, before)
        parts = {"tasks": tasks.part(tasks.fold.state())}
        if (out / layout.EVENTS_FILE).is_file():
            folded = fold_events(out, before)
            parts["events"] = folded.part(tally_state(folded.fold))
        summary.write_summary(out, parts)
        path = out / layout.JOURNAL_FILE
        if path.is_file():
            worklog.rewrite(path, worklog.read(path, set(tasks.fold.instructions)))
    except (UsageError, OSError, ValueError):
        pass  # the files stand as they are; the next run or report folds them in full
