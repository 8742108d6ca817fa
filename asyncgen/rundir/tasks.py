"""Reading the committed tasks of an output directory, as the run left them.

`tasks.jsonl` is read with the one JSONL reader (`asyncgen.jsonl.JsonlFile`): a torn last line (no
newline, not valid JSON) left by a kill is skipped and remembered, so the report can say so; a
bad line anywhere else is a `UsageError` naming the file and the line. `report` and `export`
both read through here; nothing here writes.
"""

from __future__ import annotations

from pathlib import Path

from asyncgen.errors import UsageError
from asyncgen.jsonl import JsonlFile
from asyncgen.novelty.pool import Task
from asyncgen.rundir import fields
from asyncgen.rundir.layout import TASKS_FILE


def output_dir(path: Path) -> Path:
    """Check that `path` is an asyncgen output directory (has tasks.jsonl)."""
    if not path.exists():
        raise UsageError(f"{path}: no such directory")
    if not path.is_dir():
        raise UsageError(f"{path}: not a directory")
    if not (path / TASKS_FILE).is_file():
        raise UsageError(f"{path}: no {TASKS_FILE} here; is it an asyncgen output directory?")
    return path


def load_tasks(directory: Path) -> tuple[list[Task], list[str]]:
    """All tasks of `directory/tasks.jsonl` in file order, the similarity fields of those
    committed without them joined from fields.jsonl, and notes (torn line, tasks still without
    their fields)."""
    source = JsonlFile(output_dir(directory) / TASKS_FILE)
    tasks = [
        Task.from_json(obj, where=f"{source.path}, line {lineno}") for lineno, obj in source
    ]
    tasks, unscored = fields.join(tasks, directory)
    notes = [note for note in (source.torn_note(), fields.missing_note(unscored, directory))
             if note]
    return tasks, notes

