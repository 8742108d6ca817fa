"""`OUT/summary.json`: the run directory folded once, so resume and `report` need not re-read it.

A resume needs every committed instruction (for the pool) and the runs that wrote them (for
the authorship check); `report` needs Table 1 and the fold of every event. Both are folds over
append-only files, so the fold of a file's first L bytes never changes. The run writes, when
it ends and still holds the directory's lock, each fold with the length L and the SHA-256 of
the bytes it covers (`settle`); a reader checks that the file still starts with exactly those
bytes (hashing them: ~1 µs per task) and folds only the lines after L. A summary that does not
match (a file rewritten, truncated or replaced, another asyncgen's layout) is ignored and the
whole file folded: the summary can make a read faster, never different. It is written
atomically and is never the only copy of anything; deleting it is always safe.

While a run writes, its checkpointer (`asyncgen.rundir.checkpoint`) keeps the summary current every
few seconds from its own folds of the files (`advance`: only whole lines, the files' writers are
other tasks), so after a kill -9 the tail left to fold is the last seconds of the run.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import orjson

from asyncgen.errors import UsageError
from asyncgen.jsonl import atomic_write, is_torn, parse_line
from asyncgen.novelty.pool import check_task_line
from asyncgen.rundir.layout import SUMMARY_FILE, TASKS_FILE

FORMAT = "asyncgen-summary/2"  # /1 held every instruction: it grew with the run
BLOCK = 1 << 22  # bytes read (and hashed) at a time

F = TypeVar("F")
T = TypeVar("T")


def _words(text: str) -> int:
    return len(text.split())


@dataclass(slots=True)
class TaskFold:
    """tasks.jsonl folded: the instructions in file order, who wrote them, Table 1's sums.

    Its state in the summary is the counts, not the instructions (the summary stays the same
    size however long the run): `fold_tasks` reads those from the lines the summary covers."""

    instructions: list[str] = field(default_factory=list)
    count: int = 0  # tasks folded (the instructions may be left out: `fold_tasks`)
    runs: dict[str, str] = field(default_factory=dict)  # run_id -> its first task's id
    classification: int = 0
    instances: int = 0
    nonempty_inputs: int = 0
    instruction_words: int = 0
    input_words: int = 0  # non-empty inputs only
    output_words: int = 0

    def __len__(self) -> int:
        return self.count

    def add(self, obj: Mapping[str, Any], where: str) -> None:
        """Fold one decoded line, refused (UsageError) where `Task.from_json` would refuse it."""
        check_task_line(obj, where)
        instruction: str = obj["instruction"]
        self.instructions.append(instruction)
        self.count += 1
        run_id = str(obj.get("run_id", ""))
        if run_id not in self.runs:
            self.runs[run_id] = str(obj.get("id", ""))
        self.classification += obj["is_classification"]
        self.instruction_words += _words(instruction)
        for instance in obj["instances"]:
            self.instances += 1
            self.output_words += _words(instance["output"])
            if instance["input"].strip():
                self.nonempty_inputs += 1
                self.input_words += _words(instance["input"])

    def table1(self) -> dict[str, Any]:
        """The paper's Table 1, as `report.table1` computes it from the tasks."""
        n = self.count
        return {
            "instructions": n,
            "classification_instructions": self.classification,
            "non_classification_instructions": n - self.classification,
            "instances": self.instances,
            "instances_with_empty_input": self.instances - self.nonempty_inputs,
            "avg_instruction_words": self.instruction_words / n if n else None,
            "avg_nonempty_input_words": (self.input_words / self.nonempty_inputs
                                         if self.nonempty_inputs else None),
            "avg_output_words": self.output_words / self.instances if self.instances else None,
        }

    def state(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__ if name != "instructions"}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> TaskFold:
        """The counts a summary holds (the instructions: `fold_tasks`)."""
        return cls(**{name: state[name] for name in cls.__slots__ if name != "instructions"})


@dataclass(slots=True)
class Folded(Generic[T]):
    """A file folded: the fold, the whole lines it covers, and a torn last line it skipped."""

    fold: T
    length: int  # bytes of whole lines folded
    lines: int
    sha256: str
    torn_line: int | None
    from_summary: int  # bytes of it taken from the summary (0: folded from the start)
    digest: Any = None  # the SHA-256 of the `length` bytes, open: `advance` goes on from it

    def torn_note(self, path: Path) -> str | None:
        """The note `JsonlFile.torn_note` gives for the same file."""
        if self.torn_line is None:
            return None
        return f"{path}, line {self.torn_line}: skipped a torn last line (run interrupted?)"

    def part(self, state: Any) -> dict[str, Any]:
        """This fold as a part of the summary file."""
        return {"length": self.length, "lines": self.lines, "sha256": self.sha256,
                "fold": state}


def _prefix(f: Any, length: int, digest: Any) -> bool:
    """Hash the file's first `length` bytes into `digest`; False if the file is shorter."""
    left = length
    while left:
        block = f.read(min(BLOCK, left))
        if not block:
            return False
        digest.update(block)
        left -= len(block)
    return True


def _lines(f: Any, first: int, digest: Any, limit: int | None = None
           ) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, line, whole) from the file position on, each whole line hashed into
    `digest`; the last one may lack its newline (then it is not hashed: the caller decides).
    With a `limit`, about that many bytes are read (whole blocks): the line the limit cuts
    comes last, as one without its newline."""
    number = first
    carry = b""
    read = 0
    while limit is None or read < limit:
        block = f.read(BLOCK)
        if not block:
            break
        read += len(block)
        end = block.rfind(b"\n") + 1
        if not end:
            carry += block
            continue
        digest.update(carry)
        digest.update(block[:end])
        lines = (carry + block[:end]).split(b"\n")
        lines.pop()  # after the last newline: nothing
        carry = block[end:]
        for line in lines:
            number += 1
            yield number, line, True
    if carry:
        yield number + 1, carry, False


def fold_file(path: Path, part: Mapping[str, Any] | None, new: Callable[[], F],
              restore: Callable[[Any], F], add: Callable[[F, dict[str, Any], str], None],
              *, live: bool = False, limit: int | None = None) -> Folded[F]:
    """Fold `path`'s lines with `add`, from the summary's `part` when the file still starts
    with the bytes it covers; the one JSONL tail rule (`asyncgen.jsonl`) for the last line.
    `live` and `limit` as for `advance` (the rest is left for it)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        folded = Folded(new(), 0, 0, "", None, 0, digest)
        if part is not None:
            try:
                expected, size = str(part["sha256"]), int(part["length"])
                if size <= os.fstat(f.fileno()).st_size and _prefix(f, size, digest) \
                        and digest.hexdigest() == expected:
                    fold, lines = restore(part["fold"]), int(part["lines"])
                    folded.fold, folded.length, folded.lines = fold, size, lines
                    folded.from_summary = size
            except (KeyError, TypeError, ValueError):
                pass
            if not folded.from_summary:  # not this file's summary: fold it all
                folded.digest = hashlib.sha256()
                f.seek(0)
        _fold_lines(f, path, folded, add, live=live, limit=limit)
    return folded


def advance(path: Path, folded: Folded[F], add: Callable[[F, dict[str, Any], str], None],
            limit: int | None = None) -> int:
    """Fold into `folded` the whole lines appended to `path` since (about `limit` bytes at
    most): the lines folded. For a file another writer is appending to: a last line without
    its newline is being written, and is left for the next call."""
    before = folded.lines
    with path.open("rb") as f:
        f.seek(folded.length)
        _fold_lines(f, path, folded, add, live=True, limit=limit)
    return folded.lines - before


def _fold_lines(f: Any, path: Path, folded: Folded[F],
                add: Callable[[F, dict[str, Any], str], None], *, live: bool,
                limit: int | None = None) -> None:
    """Fold the lines from the file position on into `folded` (its length, lines, digest)."""
    for number, raw, whole in _lines(f, folded.lines, folded.digest, limit):
        if not whole:
            if live:  # still being written (or cut by the limit): the next call reads it
                break
            if raw.strip() and is_torn(raw):  # JsonlFile's order: blank, then torn
                folded.torn_line = number
                break
            folded.digest.update(raw)
        folded.length += len(raw) + whole
        folded.lines = number
        if not raw.strip():
            continue
        add(folded.fold, parse_line(raw, path, number), f"{path}, line {number}")
    folded.sha256 = folded.digest.hexdigest()


def read_summary(out: Path) -> dict[str, Any]:
    """The directory's summary ({} when there is none or it is not one)."""
    try:
        data = orjson.loads((out / SUMMARY_FILE).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) and data.get("format") == FORMAT else {}


def fold_tasks(out: Path, summary: Mapping[str, Any] | None = None, *,
               instructions: bool = True) -> Folded[TaskFold]:
    """tasks.jsonl folded (an empty fold when there is none); without `instructions` (a
    report) only the tail after the summary gives its instructions."""
    path = out / TASKS_FILE
    if not path.exists():
        digest = hashlib.sha256()
        return Folded(TaskFold(), 0, 0, digest.hexdigest(), None, 0, digest)
    if not path.is_file():
        raise UsageError(f"{path} is not a file")
    part = (read_summary(out) if summary is None else summary).get("tasks")
    folded = fold_file(path, part, TaskFold, TaskFold.from_state, TaskFold.add)
    if instructions and folded.from_summary:
        folded.fold.instructions[:0] = read_instructions(path, folded.from_summary)
    return folded


def read_instructions(path: Path, length: int) -> list[str]:
    """The instructions of the tasks in `path`'s first `length` bytes (whole lines the summary
    validated), in file order."""
    found: list[str] = []
    read = 0
    with path.open("rb") as f:
        for raw in f:
            read += len(raw)
            if raw.strip():
                found.append(orjson.loads(raw)["instruction"])
            if read >= length:
                break
    return found


def write_summary(out: Path, parts: Mapping[str, Any]) -> None:
    """Replace the summary atomically (a kill leaves the old one or the new one)."""
    atomic_write(out / SUMMARY_FILE, orjson.dumps({"format": FORMAT, **parts}))
