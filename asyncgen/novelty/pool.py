"""The task pool: seed tasks, generated tasks, and the JSONL store they are committed to.

`load_seeds` reads the paper's seed schema. `TaskStore` owns `OUT/tasks.jsonl`: it loads it on
resume (a torn last line left by a kill -9 is skipped, then cut) and appends one whole line per
commit.
`Pool` holds every instruction that candidates are compared against (seeds + every admitted one,
failed ones included) in a `RougeLIndex`; only the filter task mutates it, the sampler only
reads it (committed instructions only: a failed one is never shown as an example).

The pool lives as long as the run and only grows, and a full collection of the cyclic garbage
collector traverses every tracked object (~1 µs each, several per instruction: 0.24 s at a
60K pool, seconds at 1M, all of it a stall of the event loop). So after a restore and every
`FREEZE_EVERY` instructions, `Pool` moves what is alive into the collector's permanent
generation (`gc.freeze`): full collections then see only what was made since.
"""

from __future__ import annotations

import gc
import itertools
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import orjson

from asyncgen.errors import UsageError
from asyncgen.jsonl import JsonlFile, LineAppender, settle_tail
from asyncgen.novelty.neighbours import Neighbours, PoolScores, Query
from asyncgen.novelty.similarity import DEFAULT_MIN_THRESHOLD, RougeLIndex
from asyncgen.observe import events
from asyncgen.selfinstruct.parsing import Instance

log = events.get_logger()

FREEZE_EVERY = 1_000  # instructions added between two gc.freeze() calls (every 10,000 left
# ~300K objects of the run in the oldest generation: full collections of 42–49 ms CPU)


@dataclass(frozen=True, slots=True)
class SeedTask:
    id: str
    name: str
    instruction: str
    instances: tuple[Instance, ...]
    is_classification: bool


ESTIMATED = "sample"  # a task line's "fields" when its similarity fields are estimated


@dataclass(frozen=True, slots=True, kw_only=True)
class Task:
    """A generated task as committed to tasks.jsonl.

    `scored` is False for a task committed before its similarity fields were ready: its line
    holds them as null, and they come later as its line in fields.jsonl (`rundir.fields`).
    `fields_sample` > 0: the fields are estimated (`--fields sample`, see
    `PoolScores.estimate`); the line says so ("fields": "sample") with the mean's error."""

    id: str
    instruction: str
    is_classification: bool
    instances: tuple[Instance, ...]
    most_similar: dict[str, float] = field(default_factory=dict)
    avg_similarity_score: float = 0.0
    most_similar_seed: dict[str, float] = field(default_factory=dict)
    created_at: str = ""
    model: str = ""
    run_id: str = ""
    scored: bool = True
    fields_sample: int = 0  # estimated fields (`--fields sample`): instructions sampled
    avg_similarity_stderr: float = 0.0  # ... and the estimated mean's standard error
    models: Mapping[str, str] = field(default_factory=dict)
    """Stage -> the model that wrote its instruction ("instructions"), its label ("classify")
    and its instances ("instances"), as the provider named it; a stage an earlier run answered
    (a job continued on resume) is not in it."""

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], *, where: str = "task") -> Task:
        """Validate a decoded line; `where` ("tasks.jsonl, line 3") prefixes the error."""
        check_task_line(obj, where)
        instruction: str = obj["instruction"]
        raw_instances = obj["instances"]
        similar = {name: _scores(obj, name) for name in ("most_similar",
                                                                "most_similar_seed")}
        average = obj.get("avg_similarity_score") or 0.0
        return cls(
            id=str(obj.get("id", "")),
            instruction=instruction,
            is_classification=obj["is_classification"],
            instances=tuple(Instance(raw["input"], raw["output"]) for raw in raw_instances),
            most_similar=similar["most_similar"],
            avg_similarity_score=float(average),
            most_similar_seed=similar["most_similar_seed"],
            created_at=str(obj.get("created_at", "")),
            model=str(obj.get("model", "")),
            run_id=str(obj.get("run_id", "")),
            scored=not unscored(obj),
            fields_sample=int(obj.get("fields_sample") or 0),
            avg_similarity_stderr=float(obj.get("avg_similarity_stderr") or 0.0),
            models=_models(obj),
        )

    def with_neighbours(self, neighbours: Neighbours) -> Task:
        return replace(self, most_similar=neighbours.most_similar,
                       avg_similarity_score=neighbours.avg_similarity_score,
                       most_similar_seed=neighbours.most_similar_seed, scored=True,
                       fields_sample=neighbours.sample,
                       avg_similarity_stderr=neighbours.stderr)

    def to_json(self) -> dict[str, Any]:
        scored = self.scored
        return {
            "id": self.id,
            "instruction": self.instruction,
            "is_classification": self.is_classification,
            "instances": [{"input": i.input, "output": i.output} for i in self.instances],
            "most_similar": self.most_similar if scored else None,
            "avg_similarity_score": self.avg_similarity_score if scored else None,
            "most_similar_seed": self.most_similar_seed if scored else None,
            **({"fields": ESTIMATED, "fields_sample": self.fields_sample,
                "avg_similarity_stderr": self.avg_similarity_stderr}
               if scored and self.fields_sample else {}),
            "created_at": self.created_at,
            "model": self.model,
            "run_id": self.run_id,
            **({"models": dict(self.models)} if self.models else {}),
        }


def _models(obj: Mapping[str, Any]) -> dict[str, str]:
    """A task line's `models` (stage -> model), strings only; {} when absent."""
    raw = obj.get("models")
    if not isinstance(raw, dict):
        return {}
    return {str(stage): model for stage, model in raw.items() if isinstance(model, str)}


def check_task_line(obj: Mapping[str, Any], where: str) -> None:
    """Refuse a decoded tasks.jsonl line that is not a task (UsageError naming `where`)."""
    if not isinstance(obj.get("instruction"), str):
        raise UsageError(f"{where}: field 'instruction' must be a string")
    if not isinstance(obj.get("is_classification"), bool):
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
    for name in ("most_similar", "most_similar_seed"):
        raw = obj.get(name) or {}
        if not isinstance(raw, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in raw.values()
        ):
            raise UsageError(f"{where}: field {name!r} must map instructions to scores")
    average = obj.get("avg_similarity_score") or 0.0
    if not isinstance(average, int | float) or isinstance(average, bool):
        raise UsageError(f"{where}: field 'avg_similarity_score' must be a number")
    for name in ("fields_sample", "avg_similarity_stderr"):  # estimated fields only
        value = obj.get(name) or 0
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise UsageError(f"{where}: field {name!r} must be a number >= 0")


def unscored(obj: Mapping[str, Any]) -> bool:
    """Whether a task line was committed before its similarity fields (they are null in it)."""
    return "avg_similarity_score" in obj and obj["avg_similarity_score"] is None


def _scores(obj: Mapping[str, Any], name: str) -> dict[str, float]:
    """A {instruction: score} field of a checked task line ({} when absent)."""
    return {str(k): float(v) for k, v in (obj.get(name) or {}).items()}


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
    query: Query  # for its similarity fields, computed off the event loop (PoolScores.score)


@dataclass(frozen=True, slots=True)
class Refused:
    reason: str  # "duplicate" (a verbatim repeat of a pool instruction) | "similar"
    score: float | None = None  # the best score and its pool instruction, when asked
    nearest: str | None = None


class Pool:
    """Seeds and generated instructions; the filter task is its only writer.

    Two views of the same instructions, under the same keys: the `RougeLIndex` decides
    admission; `scores` (every instruction, for the full-pool similarity fields) is read by
    the scoring thread.
    """

    __slots__ = ("seeds", "machine", "_index", "scores", "threshold", "_restoring", "_restored",
                 "_unfrozen")

    def __init__(self, seeds: Sequence[SeedTask], *, threshold: float = 0.7,
                 sample: int = 0) -> None:
        self.seeds = list(seeds)
        self.machine: list[str] = []  # committed generated instructions, read by the sampler
        self.threshold = threshold
        self._index = RougeLIndex(min_threshold=threshold or DEFAULT_MIN_THRESHOLD)
        self.scores = PoolScores([seed.instruction for seed in self.seeds], sample=sample)
        for seed in self.seeds:
            self._index.add(seed.instruction)
        # given to `restore`, not in the index yet (the lists as given: a big pool's are not
        # copied on the loop)
        self._restoring: list[Sequence[str]] = []
        self._restored: anyio.Event | None = None  # set once `ready` has built them in
        self._unfrozen = 0  # instructions added since the last gc.freeze()

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        return (f"Pool(seeds={len(self.seeds)}, machine={len(self.machine)}, indexed={len(self)}"
                f", restoring={sum(len(part) for part in self._restoring)})")

    def restore(self, instructions: Sequence[str], kept: Iterable[str] = ()) -> None:
        """Re-add committed instructions after a resume, and `kept`: the instructions earlier
        runs admitted that are open or failed (compared against, never sampled).

        The sampler may sample the committed ones at once; the index and the similarity view
        take them all in `ready`, in one pass in a worker thread, while the run sends."""
        self.machine.extend(instructions)
        self._restoring += [instructions, list(kept)]

    async def ready(self) -> None:
        """Wait until the pool holds what `restore` gave it (the filter awaits it before its
        first decision). The build runs in a worker thread: the event loop serves the
        requests meanwhile, and nothing else touches the index until it is done."""
        if self._restored is None:
            self._restored = anyio.Event()
            parts, self._restoring = self._restoring, []
            if any(parts):
                await anyio.to_thread.run_sync(self._build, parts, abandon_on_cancel=True)
            self._restored.set()
        await self._restored.wait()

    def _build(self, parts: list[Sequence[str]]) -> None:
        """Both views of the pool take the texts of `parts` (in a worker thread: see `ready`);
        the cyclic collector is held off meanwhile (a full collection in the middle of the build
        would walk it all holding the GIL), and what was built is frozen before it is let on
        again: not collected first, since a young collection over a big pool's build walks it
        all too (373 ms holding the GIL at 1M), for the few cycles made meanwhile."""
        texts = list(itertools.chain.from_iterable(parts))
        collecting = gc.isenabled()
        gc.disable()
        try:
            keys = self._index.add_many(texts)
            if [self.scores.add(text) for text in texts] != keys:
                raise AssertionError("pool views out of step")  # both issue keys in add order
        finally:
            if collecting:
                gc.freeze()
                gc.enable()
        self._unfrozen = 0

    def admit(self, instruction: str, *, nearest: bool = True) -> Admitted | Refused:
        """Admit a candidate when no pool instruction scores above the threshold.

        `refusal` (as `is_novel`) stops at the first pool instruction above the threshold,
        and most rejected candidates are near-duplicates of one. A refusal names the
        best-scoring pool instruction and its score only when `nearest` asks: a second query,
        as costly as the first (the default event log writes neither). An admitted
        candidate's query for the similarity fields is taken before it joins the pool.
        """
        if self._restoring:
            raise RuntimeError("Pool.ready() first: the restored instructions are not indexed")
        index = self._index
        reason = index.refusal(instruction, self.threshold)
        if reason is not None:
            if not nearest:
                return Refused(reason=reason)
            key, score = index.similar(instruction, math.nextafter(self.threshold, 1.0))[0]
            return Refused(reason=reason, score=score, nearest=index.text(key))
        query = self.scores.query(instruction)
        return Admitted(self._add(instruction), instruction, query)

    def _add(self, instruction: str) -> int:
        key = self._index.add(instruction)
        if self.scores.add(instruction) != key:
            raise AssertionError("pool views out of step")  # both issue keys in add order
        self._grown(1)
        return key

    def _grown(self, added: int) -> None:
        """Freeze what is alive once FREEZE_EVERY instructions were added (module docstring).

        The young generations are collected first; cyclic garbage already in the oldest one
        at that moment is never collected (a few objects of the work in flight, per freeze)."""
        self._unfrozen += added
        if self._unfrozen >= FREEZE_EVERY:
            self._unfrozen = 0
            gc.collect(1)
            gc.freeze()

    def keep(self, instruction: str) -> Query:
        """Re-add an open job of an earlier run (compared against, not sampled); the query for
        its similarity fields, against the pool before it."""
        if self._restoring:
            raise RuntimeError("Pool.ready() first: the restored instructions are not indexed")
        query = self.scores.query(instruction)
        self._add(instruction)
        return query

    def commit(self, instruction: str) -> None:
        """An admitted instruction was committed: from now on it may be sampled as an example."""
        self.machine.append(instruction)

    def sample_prompt(self, rng: random.Random, *, human: int, machine: int) -> list[str]:
        """`human` seed and `machine` generated instructions; all human while none is generated."""
        take_machine = min(machine, len(self.machine))
        take_human = min(human + machine - take_machine, len(self.seeds))
        chosen = [s.instruction for s in rng.sample(self.seeds, take_human)]
        chosen += rng.sample(self.machine, take_machine)
        rng.shuffle(chosen)
        return chosen
