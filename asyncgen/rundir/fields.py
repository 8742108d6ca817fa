"""The similarity fields off the commit path: `OUT/fields.jsonl` and the pass that writes it.

A task's whole-pool similarity fields (`novelty.neighbours`) cost in proportion to the pool; a
commit never waits for them. A task whose fields are ready when it is committed carries them in
its tasks.jsonl line, as before. One whose fields are not is committed at once with them null
(`Task.scored` False), and `FieldsPass`, the one writer of fields.jsonl, appends
`{"id", "most_similar", "avg_similarity_score", "most_similar_seed"}` for it once the scanning
threads (at a lower CPU priority than the event loop: they take what it leaves) have them.
`report` and `export` join the two by task id (`join`).

Never silently missing: a task committed without its fields and with no line in fields.jsonl is
*unscored*. The run says how many it leaves (`run.finished`'s `fields_missing`), `report` counts
them, `export` warns. A run waits for its last fields at its end (`Graph`), except when stopped
by a signal, `--max-duration` or a fault: the next run into the directory scores what is missing
before anything else (`missing`), even when its target is already reached. A resumed task is
scored against the seeds and the tasks before it in tasks.jsonl (its pool as the directory
records it; live, the pool was every instruction admitted before it, failed ones included).

A fields line names its neighbours rather than quoting them (`Names`): a committed task by its
place in tasks.jsonl (an integer, 0 for the first line), any other instruction (a seed, one
admitted whose job failed, one not committed yet) by a short name that an earlier line of the
file defines once, `{"name": "~3", "text": ...}`. So a line is
`{"id", "near": [[ref, F], ...], "avg": mean F, "seed": [ref, F] or []}` (and `"sample":
[instructions sampled, standard error]` when the fields are estimated, `--fields sample`);
`join` expands it to the released fields (`most_similar` as instruction -> F, in the same
order, the same floats). Lines of the earlier form (the fields written out) are read as well.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import orjson

from asyncgen.errors import UsageError
from asyncgen.jsonl import JsonlFile, LineAppender, is_torn, settle_tail
from asyncgen.novelty.neighbours import Neighbours, Pending
from asyncgen.novelty.pool import Pool, Task
from asyncgen.rundir.layout import FIELDS_FILE, TASKS_FILE

PLACES_SLICE = 20_000  # committed tasks' places learnt between two looks at the loop (~5 ms)
SUBMIT_SLICE = 256  # resumed tasks queued between two looks at the event loop (~5 ms)
_UNSCORED = b'"avg_similarity_score":null'  # in a task line only as its field (JSON escapes
# every quote inside a string)
_ID = b'{"id":"'  # how a task line and a fields line start (`Task.to_json`, `fields_line`)


@dataclass(frozen=True, slots=True)
class Unscored:
    """A task committed without its fields: its id, its place among tasks.jsonl's tasks (its
    key in a resumed pool, after the seeds) and its instruction."""

    id: str
    index: int
    instruction: str


def fields_line(task_id: str, neighbours: Neighbours) -> bytes:
    """One line of fields.jsonl in the earlier, written-out form (still read: `join`)."""
    return orjson.dumps({"id": task_id, "most_similar": neighbours.most_similar,
                         "avg_similarity_score": neighbours.avg_similarity_score,
                         "most_similar_seed": neighbours.most_similar_seed},
                        option=orjson.OPT_APPEND_NEWLINE)


Ref = int | str  # a place in tasks.jsonl, or a name a definition line gives a text
NAME_PREFIX = "~"  # a defined name: "~" and a number


class Names:
    """How fields.jsonl names instructions (the writer's side, `FieldsPass`): committed tasks
    by their place in tasks.jsonl (`committed`: their instructions in file order, growing as
    the run commits), other texts by the names defined so far (`defined`, read back on
    resume)."""

    __slots__ = ("committed", "_places", "_known", "defined")

    def __init__(self, committed: Sequence[str], defined: Mapping[str, str]) -> None:
        self.committed = committed
        self._places: dict[str, int] = {}
        self._known = 0  # instructions of `committed` in `_places`
        self.defined = dict(defined)  # text -> name

    def refs(self, neighbours: Neighbours) -> tuple[bytes, bytes]:
        """Definition lines for texts named here for the first time, and the fields line."""
        definitions: list[bytes] = []

        def ref(text: str) -> Ref:
            place = self._place(text)
            if place is not None:
                return place
            name = self.defined.get(text)
            if name is None:
                name = self.defined[text] = f"{NAME_PREFIX}{len(self.defined)}"
                definitions.append(orjson.dumps({"name": name, "text": text},
                                                option=orjson.OPT_APPEND_NEWLINE))
            return name

        near = [[ref(text), score] for text, score in neighbours.most_similar.items()]
        seed = [[ref(text), score] for text, score in neighbours.most_similar_seed.items()]
        body: dict[str, Any] = {"near": near, "avg": neighbours.avg_similarity_score,
                                "seed": seed[0] if seed else []}
        if neighbours.sample:  # estimated: how many sampled, the mean's standard error
            body["sample"] = [neighbours.sample, neighbours.stderr]
        return b"".join(definitions), orjson.dumps(body)

    def catch_up(self, most: int) -> bool:
        """Learn the places of up to `most` more committed tasks; whether some are left (a
        resumed million: a slice per turn of the event loop)."""
        committed, places = self.committed, self._places
        stop = min(len(committed), self._known + most)
        for place in range(self._known, stop):
            places.setdefault(committed[place], place)
        self._known = stop
        return stop < len(committed)

    def _place(self, text: str) -> int | None:
        self.catch_up(len(self.committed))
        return self._places.get(text)


def compact_line(task_id: str, body: bytes) -> bytes:
    """A fields line from `Names.refs`'s body (the id first: `_line_id` reads it undecoded)."""
    return b'{"id":' + orjson.dumps(task_id) + b"," + body[1:] + b"\n"


def read_names(path: Path) -> dict[str, str]:
    """The names fields.jsonl defines, text -> name (a torn last line skipped)."""
    found: dict[str, str] = {}
    if not path.is_file():
        return found
    with path.open("rb") as f:
        for raw in f:
            if raw.startswith(b'{"name"') and raw.endswith(b"\n"):
                obj = orjson.loads(raw)
                found[str(obj["text"])] = str(obj["name"])
    return found


def _line_id(raw: bytes) -> str | None:
    """The id a task or fields line starts with, without decoding the rest."""
    if raw.startswith(_ID):
        end = raw.find(b'"', len(_ID))
        if end > 0 and b"\\" not in raw[len(_ID):end]:
            return raw[len(_ID):end].decode()
    obj = orjson.loads(raw)
    return str(obj["id"]) if isinstance(obj, dict) and "id" in obj else None


def unscored(tasks_path: Path) -> list[tuple[str, int]]:
    """The id and place of each task of tasks.jsonl committed without its fields (a torn last
    line skipped); no line is decoded (the id is the line's first field)."""
    found: list[tuple[str, int]] = []
    if not tasks_path.is_file():
        return found
    index = 0
    with tasks_path.open("rb") as f:
        for raw in f:
            if not raw.strip():
                continue
            if not raw.endswith(b"\n") and is_torn(raw):
                break
            if _UNSCORED in raw:
                found.append((_line_id(raw) or "", index))
            index += 1
    return found


def written_ids(path: Path) -> set[str]:
    """The task ids fields.jsonl has a line for (a torn last line skipped)."""
    ids: set[str] = set()
    if not path.is_file():
        return ids
    with path.open("rb") as f:
        for raw in f:
            if not raw.strip() or (not raw.endswith(b"\n") and is_torn(raw)):
                continue
            try:
                task_id = _line_id(raw)
            except orjson.JSONDecodeError:
                raise UsageError(f"{path}: corrupt line, not valid JSON") from None
            if task_id is not None:
                ids.add(task_id)
    return ids


def count_missing(out: Path) -> int:
    """How many tasks of `out` are without their fields (`report`)."""
    written = written_ids(out / FIELDS_FILE)
    return sum(task_id not in written for task_id, _ in unscored(out / TASKS_FILE))


def missing(out: Path) -> list[Unscored]:
    """Tasks of `out` committed without their fields that fields.jsonl does not have yet; only
    their lines are decoded (a second read, for their instructions)."""
    written = written_ids(out / FIELDS_FILE)
    wanted = {index: task_id for task_id, index in unscored(out / TASKS_FILE)
              if task_id not in written}
    found: list[Unscored] = []
    if not wanted:
        return found
    index = 0
    with (out / TASKS_FILE).open("rb") as f:
        for raw in f:
            if not raw.strip():
                continue
            if index in wanted:
                found.append(Unscored(wanted[index], index, orjson.loads(raw)["instruction"]))
            index += 1
            if len(found) == len(wanted):
                break
    return found


def read_fields(path: Path, wanted: set[str],
                instructions: Sequence[str] = ()) -> dict[str, Neighbours]:
    """The fields fields.jsonl holds for the task ids in `wanted`; `instructions`: those of
    tasks.jsonl in file order, which a line names by place."""
    found: dict[str, Neighbours] = {}
    if not path.is_file() or not wanted:
        return found
    texts: dict[str, str] = {}  # name -> text
    for lineno, obj in JsonlFile(path):
        if "name" in obj and "id" not in obj:
            texts[str(obj["name"])] = str(obj.get("text", ""))
            continue
        task_id = str(obj.get("id", ""))
        if task_id in wanted:
            where = f"{path}, line {lineno}"
            try:
                found[task_id] = (_expanded(obj, texts, instructions, where) if "near" in obj
                                  else _neighbours(obj, where))
            except _NotYet:  # names a task committed after tasks.jsonl was read: missing now
                continue
    return found


class _NotYet(Exception):
    """A compact line names a place past the tasks read: a task committed after them (a run
    still writing the directory), not a corrupt line."""


def _neighbours(obj: Mapping[str, Any], where: str) -> Neighbours:
    try:
        return Neighbours({str(k): float(v) for k, v in obj["most_similar"].items()},
                          float(obj["avg_similarity_score"]),
                          {str(k): float(v) for k, v in obj["most_similar_seed"].items()})
    except (KeyError, TypeError, ValueError, AttributeError):
        raise UsageError(f"{where}: not a line of similarity fields") from None


def _expanded(obj: Mapping[str, Any], texts: Mapping[str, str], instructions: Sequence[str],
              where: str) -> Neighbours:
    """A compact line's fields, its names resolved (`Names`)."""
    def text(ref: Any) -> str:
        if isinstance(ref, int) and not isinstance(ref, bool) and 0 <= ref:
            if ref >= len(instructions):
                raise _NotYet
            return instructions[ref]
        if isinstance(ref, str) and ref in texts:
            return texts[ref]
        raise UsageError(f"{where}: names {ref!r}, which neither tasks.jsonl nor an earlier "
                         "line of fields.jsonl has")

    try:
        most_similar: dict[str, float] = {}
        for ref, score in obj["near"]:
            most_similar.setdefault(text(ref), float(score))
        seed = obj["seed"]
        best_seed = {text(seed[0]): float(seed[1])} if seed else {}
        sample, stderr = obj.get("sample") or (0, 0.0)
        return Neighbours(most_similar, float(obj["avg"]), best_seed, sample=int(sample),
                          stderr=float(stderr))
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        raise UsageError(f"{where}: not a line of similarity fields") from None


def join(tasks: Sequence[Task], out: Path) -> tuple[list[Task], int]:
    """`tasks` (all of tasks.jsonl, in file order) with the fields fields.jsonl holds for those
    committed without them, and how many are still without (left `scored` False, their fields
    empty)."""
    wanted = {task.id for task in tasks if not task.scored}
    found = read_fields(out / FIELDS_FILE, wanted, [task.instruction for task in tasks])
    joined = [task.with_neighbours(found[task.id]) if not task.scored and task.id in found
              else task for task in tasks]
    return joined, len(wanted - found.keys())


def missing_note(count: int, out: Path) -> str | None:
    """The warning `report` and `export` give for tasks still without their fields."""
    if not count:
        return None
    return (f"{count} task(s) in {out / TASKS_FILE} have no similarity fields yet "
            "(most_similar, avg_similarity_score, most_similar_seed): run the same command "
            "again to complete them")


class FieldsPass:
    """The one writer of fields.jsonl: each task committed without its fields gets its line,
    in the order they were handed over, as the scanning threads finish them.

    `run` also runs the pool's scanning threads (`PoolScores.run`): every admitted job's fields
    are computed there, whether its commit finds them ready or hands them over here."""

    __slots__ = ("path", "pool", "written", "_lines", "_queue", "_wake", "_closed", "_resumed",
                 "_submitted", "_names")

    def __init__(self, path: Path, pool: Pool, resumed: Sequence[Unscored] = ()) -> None:
        self.path = path
        self.pool = pool
        self.written = 0
        self._lines: LineAppender | None = None
        self._queue: deque[tuple[str, Pending]] = deque()  # handed over, not written yet
        self._wake = anyio.Event()
        self._closed = False
        self._resumed = deque(resumed)  # earlier runs' tasks still without fields, not queued
        self._submitted = False  # the resumed ones are queued: the filter's are the last
        self._names: Names | None = None  # once `open`

    def __repr__(self) -> str:
        return (f"<FieldsPass written={self.written} waiting={len(self._queue)} "
                f"resumed={len(self._resumed)} closed={self._closed}>")

    @property
    def outstanding(self) -> int:
        """Tasks committed without their fields whose line is not written yet."""
        return len(self._queue) + len(self._resumed)

    def open(self) -> None:
        """Open fields.jsonl for appending (a torn tail left by a kill is cut first)."""
        settle_tail(self.path)
        self._names = Names(self.pool.machine, read_names(self.path))
        self._lines = LineAppender(self.path)

    def close(self) -> None:
        """Nothing more is handed over (nor submitted to the pool's scanning threads): `run`
        returns once every line is written."""
        self._closed = True
        self._wake.set()
        if self._submitted:
            self.pool.scores.close()

    def shut(self) -> None:
        """Close fields.jsonl (what is still outstanding stays so, for the next run)."""
        if self._lines is not None:
            self._lines.close()

    def hand_over(self, task: Task, pending: Pending) -> None:
        """`task` was committed without its fields: write them once `pending` has them."""
        self._queue.append((task.id, pending))
        self._wake.set()

    async def run(self) -> None:
        """Score and write until `close`d and done; the pool's scanning threads meanwhile."""
        scores = self.pool.scores
        async with anyio.create_task_group() as tg:
            tg.start_soon(scores.run)
            if self._resumed:
                await self.pool.ready()  # the resumed tasks' keys: after the seeds, in order
                seeds = len(self.pool.seeds)
                while self._resumed:
                    task = self._resumed.popleft()
                    self._queue.append((task.id, scores.submit(
                        scores.query_at(task.instruction, seeds + task.index))))
                    if len(self._resumed) % SUBMIT_SLICE == 0:
                        await anyio.lowlevel.checkpoint()  # thousands: not one loop turn
            self._submitted = True
            if self._closed:
                scores.close()  # the scanning threads end once the last fields are done
            await self._write()
            tg.cancel_scope.cancel()  # what the threads still have is no task's (failed jobs)

    async def _write(self) -> None:
        while True:
            if not self._queue:
                if self._closed:
                    return
                await self._wake.wait()
                self._wake = anyio.Event()
                continue
            task_id, pending = self._queue[0]
            neighbours = await pending.get()
            assert self._lines is not None and self._names is not None, "FieldsPass.open() first"
            while self._names.catch_up(PLACES_SLICE):
                await anyio.lowlevel.checkpoint()
            definitions, body = self._names.refs(neighbours)
            if definitions:  # each whole before the line that names it
                self._lines.write(definitions)
            self._lines.write(compact_line(task_id, body))
            self._queue.popleft()
            self.written += 1

