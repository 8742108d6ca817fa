"""The task pool: seed tasks, generated tasks, and the JSONL store they are committed to.

`load_seeds` reads the paper's seed schema. `TaskStore` owns `OUT/tasks.jsonl`: it loads it on
resume (a torn last line left by a kill -9 is skipped, then cut) and appends one whole line per
commit.
`Pool` holds every instruction that candidates are compared against (seeds + admitted) in a
`RougeLIndex`; only the filter task mutates it, the sampler only reads it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from asyncgen import events
from asyncgen.errors import UsageError
from asyncgen.jsonl import JsonlFile, LineAppender, settle_tail
from asyncgen.parsing import Instance
from asyncgen.prompts import Demo
from asyncgen.similarity import RougeLIndex

log = events.get_logger()

MOST_SIMILAR_KEPT = 10


@dataclass(frozen=True, slots=True)
class SeedTask:
    id: str
    name: str
    instruction: str
    instances: tuple[Instance, ...]
    is_classification: bool

    def demo(self) -> Demo:
        """The seed as a few-shot demonstration."""
        return Demo(
            instruction=self.instruction,
            is_classification=self.is_classification,
            instances=tuple((i.input, i.output) for i in self.instances),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Task:
    """A generated task as committed to tasks.jsonl."""

    id: str
    instruction: str
    is_classification: bool
    instances: tuple[Instance, ...]
    most_similar: dict[str, float] = field(default_factory=dict)
    created_at: str = ""
    model: str = ""
    run_id: str = ""

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], *, where: str = "task") -> Task:
        """Validate a decoded line; `where` ("tasks.jsonl, line 3") prefixes the error."""
        instruction = obj.get("instruction")
        if not isinstance(instruction, str):
            raise UsageError(f"{where}: field 'instruction' must be a string")
        is_classification = obj.get("is_classification")
        if not isinstance(is_classification, bool):
            raise UsageError(f"{where}: field 'is_classification' must be true or false")
        raw_instances = obj.get("instances")
        if not isinstance(raw_instances, list):
            raise UsageError(f"{where}: field 'instances' must be a list")
        if not all(
            isinstance(raw, dict)
            and isinstance(raw.get("input"), str)
            and isinstance(raw.get("output"), str)
            for raw in raw_instances
        ):
            raise UsageError(f"{where}: each instance must have string 'input' and 'output'")
        raw_similar = obj.get("most_similar") or {}
        if not isinstance(raw_similar, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in raw_similar.values()
        ):
            raise UsageError(f"{where}: field 'most_similar' must map instructions to scores")
        return cls(
            id=str(obj.get("id", "")),
            instruction=instruction,
            is_classification=is_classification,
            instances=tuple(Instance(raw["input"], raw["output"]) for raw in raw_instances),
            most_similar={str(k): float(v) for k, v in raw_similar.items()},
            created_at=str(obj.get("created_at", "")),
            model=str(obj.get("model", "")),
            run_id=str(obj.get("run_id", "")),
        )

    def to_json(self) -> dict[str, Any]:
        scores = list(self.most_similar.values())
        return {
            "id": self.id,
            "instruction": self.instruction,
            "is_classification": self.is_classification,
            "instances": [{"input": i.input, "output": i.output} for i in self.instances],
            "most_similar": self.most_similar,
            "avg_similarity_score": sum(scores) / len(scores) if scores else 0.0,
            "created_at": self.created_at,
            "model": self.model,
            "run_id": self.run_id,
        }


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- seeds -------------------------------------------------------------------------------------


def _field(obj: dict[str, Any], name: str, kind: type, where: str) -> Any:
    """Fetch one typed field of a seed line, or fail naming it."""
    if name not in obj:
        raise UsageError(f"{where}: missing field {name!r}")
    value = obj[name]
    if not isinstance(value, kind):
        raise UsageError(f"{where}: field {name!r} must be {kind.__name__}")
    return value


def _parse_seed(line: bytes, where: str) -> SeedTask:
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise UsageError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise UsageError(f"{where}: expected a JSON object")
    instruction = _field(obj, "instruction", str, where).strip()
    if not instruction:
        raise UsageError(f"{where}: field 'instruction' is empty")
    instances: list[Instance] = []
    for n, raw in enumerate(_field(obj, "instances", list, where)):
        if not isinstance(raw, dict):
            raise UsageError(f"{where}: field 'instances[{n}]' must be an object")
        instances.append(
            Instance(
                input=_field(raw, "input", str, f"{where} instances[{n}]"),
                output=_field(raw, "output", str, f"{where} instances[{n}]"),
            )
        )
    return SeedTask(
        id=str(_field(obj, "id", (str, int), where)),  # type: ignore[arg-type]
        name=str(obj.get("name", "")),
        instruction=instruction,
        instances=tuple(instances),
        is_classification=_field(obj, "is_classification", bool, where),
    )


def load_seeds(path: Path, *, need: int = 1, flag: str = "--seeds") -> list[SeedTask]:
    """Read seed tasks in the paper's schema; any defect is a UsageError naming line and field.

    `need` is how many seeds one prompt samples (--human-per-prompt): fewer is refused.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{flag}: cannot read {str(path)!r}: {exc.strerror}") from None
    if data.lstrip()[:1] == b"[":
        raise UsageError(f"{path}:1: a JSON array; the seed file must be JSONL, one object "
                         "per line")
    seeds: list[SeedTask] = []
    first_line: dict[str, int] = {}  # seed id and instruction -> the line it was first on
    number = 0
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        seed = _parse_seed(line, where)
        if not seed.instances:
            raise UsageError(f"{where}: seed {seed.id!r} has no instances (at least one)")
        for key, what in ((f"id:{seed.id}", f"id {seed.id!r}"),
                          ("instruction:" + " ".join(seed.instruction.lower().split()),
                           "instruction")):
            if key in first_line:
                raise UsageError(f"{where}: duplicate seed {what} (first on line "
                                 f"{first_line[key]})")
            first_line[key] = number
        seeds.append(seed)
    if not seeds:
        raise UsageError(f"{path}: no seed tasks (JSONL, one object per line)")
    if len(seeds) < need:
        raise UsageError(f"{path}:{number}: {len(seeds)} seed task(s), fewer than the "
                         f"{need} a prompt needs (--human-per-prompt)")
    return seeds


# --- the store ---------------------------------------------------------------------------------


@dataclass(slots=True)
class TaskStore:
    """Append-only `tasks.jsonl`: one whole line per task, written by one owner.

    Read and appended with the one JSONL reader and writer (`asyncgen.jsonl`): a torn last
    line (no newline, not JSON) is skipped on reading and cut on `open`; a whole last line
    without its newline is kept, and the newline added on `open`.
    """

    path: Path
    _lines: LineAppender | None = field(default=None, repr=False)

    def read(self) -> tuple[list[Task], int | None]:
        """Committed tasks, and the line number of a torn last line (None if there is none).

        Reads only, so a run can refuse bad input before writing anything. A bad line that is
        not the last one is corruption, not a torn write: that is a UsageError.
        """
        if not self.path.exists():
            return [], None
        if not self.path.is_file():
            raise UsageError(f"{self.path} is not a file")
        source = JsonlFile(self.path)
        tasks = [Task.from_json(obj, where=f"{self.path}, line {lineno}")
                 for lineno, obj in source]
        return tasks, source.torn_line

    def open(self) -> None:
        """Open for appending, after cutting a torn tail or ending a whole last line."""
        fix = settle_tail(self.path)
        if fix is not None and fix.newline_added:
            log.warning(events.STORE_NEWLINE_ADDED, path=str(self.path), offset=fix.offset)
        elif fix is not None:
            log.warning(events.STORE_TORN_TAIL, path=str(self.path), offset=fix.offset,
                        bytes=fix.cut)
        self._lines = LineAppender(self.path)

    def append(self, task: Task) -> None:
        """Write the task as one whole line (asyncgen.jsonl): synchronous on purpose, so no
        cancellation can land between its first and last byte."""
        assert self._lines is not None, "TaskStore.open() first"
        self._lines.write(orjson.dumps(task.to_json(), option=orjson.OPT_APPEND_NEWLINE))

    def close(self) -> None:
        if self._lines is not None:
            self._lines.close()


# --- the pool ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Admitted:
    key: int
    instruction: str
    most_similar: dict[str, float]


@dataclass(frozen=True, slots=True)
class Refused:
    reason: str  # "duplicate" | "similar"
    score: float
    nearest: str


class Pool:
    """Seeds and generated instructions; the filter task is its only writer."""

    __slots__ = ("seeds", "machine", "_index", "threshold", "record_floor")

    def __init__(
        self, seeds: Sequence[SeedTask], *, threshold: float = 0.7, record_floor: float = 0.5
    ) -> None:
        self.seeds = list(seeds)
        self.machine: list[str] = []  # committed generated instructions, read by the sampler
        self.threshold = threshold
        self.record_floor = record_floor
        self._index = RougeLIndex(min_threshold=min(record_floor, threshold))
        for seed in self.seeds:
            self._index.add(seed.instruction)

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        return f"Pool(seeds={len(self.seeds)}, machine={len(self.machine)}, indexed={len(self)})"

    def restore(self, tasks: Sequence[Task]) -> None:
        """Re-add committed tasks after a resume."""
        for task in tasks:
            self._index.add(task.instruction)
            self.machine.append(task.instruction)

    def admit(self, instruction: str) -> Admitted | Refused:
        """Admit a candidate when no pool instruction scores above the threshold.

        `is_novel` first: it stops at the first pool instruction above the threshold, and most
        rejected candidates are near-duplicates of one. Only admitted candidates pay for the
        wider `similar` search that fills most_similar.
        """
        index = self._index
        if not index.is_novel(instruction, self.threshold):
            key, score = index.similar(instruction, math.nextafter(self.threshold, 1.0))[0]
            nearest = index.text(key)
            reason = "duplicate" if nearest.strip() == instruction.strip() else "similar"
            return Refused(reason=reason, score=score, nearest=nearest)
        matches = index.similar(instruction, self.record_floor)[:MOST_SIMILAR_KEPT]
        most_similar = {index.text(key): score for key, score in matches}
        return Admitted(index.add(instruction), instruction, most_similar)

    def release(self, key: int) -> None:
        """Forget an admitted instruction that ended with no valid instance."""
        self._index.discard(key)

    def commit(self, instruction: str) -> None:
        self.machine.append(instruction)

    def sample_prompt(self, rng: random.Random, *, human: int, machine: int) -> list[str]:
        """`human` seed and `machine` generated instructions; all human while none is generated."""
        take_machine = min(machine, len(self.machine))
        take_human = min(human + machine - take_machine, len(self.seeds))
        chosen = [s.instruction for s in rng.sample(self.seeds, take_human)]
        chosen += rng.sample(self.machine, take_machine)
        rng.shuffle(chosen)
        return chosen
