"""Reading an output directory: `tasks.jsonl` and `events.jsonl`, as the run left them.

A run may be killed mid-write, so the last line of either file can be torn (no trailing newline,
not valid JSON): it is skipped and remembered, so the report can say so. A bad line anywhere
else is a `UsageError` naming the file and the line: silently dropping committed data is worse
than stopping. `report` and `export` both read through here; nothing here writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from asyncgen.errors import UsageError
from asyncgen.pool import Task

TASKS_FILE = "tasks.jsonl"
EVENTS_FILE = "events.jsonl"


class JsonlFile:
    """Iterate the JSON objects of one file; a torn last line is skipped and noted."""

    __slots__ = ("path", "lines_read", "torn_line")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines_read = 0
        # line number of a skipped torn last line, once iteration has reached it
        self.torn_line: int | None = None

    def __repr__(self) -> str:
        return f"<JsonlFile {str(self.path)!r} lines_read={self.lines_read} torn={self.torn_line}>"

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """Yield (line number, object); blank lines are ignored."""
        try:
            handle = self.path.open("rb")
        except OSError as exc:
            raise UsageError(f"{self.path}: cannot read ({exc.strerror})") from exc
        with handle:
            for lineno, raw in enumerate(handle, start=1):
                self.lines_read = lineno
                if not raw.strip():
                    continue
                try:
                    obj = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    if not raw.endswith(b"\n"):  # only the last line can lack its newline
                        self.torn_line = lineno
                        return
                    raise UsageError(
                        f"{self.path}, line {lineno}: corrupt line, not valid JSON ({exc.msg})"
                    ) from exc
                if not isinstance(obj, dict):
                    raise UsageError(f"{self.path}, line {lineno}: expected a JSON object")
                yield lineno, obj

    def torn_note(self) -> str | None:
        """A one-line note for the report if a torn last line was skipped."""
        if self.torn_line is None:
            return None
        return f"{self.path}, line {self.torn_line}: skipped a torn last line (run interrupted?)"


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
    """All tasks of `directory/tasks.jsonl` in file order, and notes (torn line)."""
    source = JsonlFile(output_dir(directory) / TASKS_FILE)
    tasks = [
        Task.from_json(obj, where=f"{source.path}, line {lineno}") for lineno, obj in source
    ]
    note = source.torn_note()
    return tasks, [note] if note else []


def events_file(directory: Path) -> JsonlFile | None:
    """The events of `directory`, read lazily; None when the run wrote no events.jsonl."""
    path = output_dir(directory) / EVENTS_FILE
    return JsonlFile(path) if path.exists() else None


def iter_events(source: JsonlFile) -> Iterator[dict[str, Any]]:
    """The event objects of `source`, without line numbers."""
    for _lineno, obj in source:
        yield obj
