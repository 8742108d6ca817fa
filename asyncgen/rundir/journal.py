"""`OUT/journal.jsonl`: the work a run paid for and has not committed, for the next run to continue.

`tasks.jsonl` holds what is finished; this journal holds what is under way, so that a stop or a
kill -9 loses no generated candidate, admitted job or classification label. One JSON object per
line, each whole or absent (written with `asyncgen.jsonl.LineAppender`, by the filter only):

    {"op": "candidates", "batch": id, "instructions": [...], "model": m}   one generation
                                                   response, received ("model": who wrote it)
    {"op": "judged", "batch": id}                  its candidates were admitted or rejected
    {"op": "admitted", "instruction": s, "model": m}
    {"op": "labelled", "instruction": s, "is_classification": b, "model": m}
    {"op": "failed", "instruction": s, "reason": r}   no valid instance: stays in the pool

"model" (the model that answered that stage, for the task's `models`) is left out when not
known, and lines written before it existed have none.

An instruction is its own key: the pool admits no text twice. Folding the lines (`read`), with
the instructions of `tasks.jsonl` marked done, gives the `Backlog`: batches to judge, open jobs
(with their label if they have one) and failed instructions. The next run judges and continues
that backlog before it samples a new prompt, and starts its journal afresh from it (`rewrite`,
atomically), so the file holds only what is still open plus the failures.

While the run appends, its checkpointer keeps the fold of the lines (before `settle`) in
OUT/summary.json (`asyncgen.rundir.summary`: validated by the length and SHA-256 of the bytes it
covers), so the next run after a kill -9 folds only the journal's last seconds. It also keeps
the file small: once it has grown past `COMPACT_BYTES` and 4 times its last compacted size,
the lines it has folded are replaced by their settled backlog (committed jobs and judged
batches dropped): the checkpointer's thread stages them (`stage`, synced), then the filter's
handle swaps the file on the event loop, between two of its synchronous writes, with the lines
appended since (`Journal.compact`, one `os.replace`). A kill at any moment leaves the old file
or the new one, each whole; the summary's part then no longer matches and the (small) file is
folded from its start.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from asyncgen.errors import UsageError
from asyncgen.jsonl import LineAppender, atomic_write, swap_in
from asyncgen.rundir.summary import Folded, fold_file

STAGED_SUFFIX = ".compact"  # the compacted lines, before they replace the journal
COMPACT_BYTES = 1 << 22  # a journal past this size (and 4x its last compacted size) is compacted


@dataclass(slots=True)
class OpenJob:
    """An admitted instruction not yet committed or failed; `is_classification` once labelled."""

    instruction: str
    is_classification: bool | None = None
    models: dict[str, str] = field(default_factory=dict)  # stage -> model, as the task's


@dataclass(slots=True)
class Backlog:
    """The journal folded: what the next run continues before it samples anything new."""

    candidates: dict[str, list[str]] = field(default_factory=dict)  # batch id -> not judged
    jobs: dict[str, OpenJob] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # instruction -> reason
    models: dict[str, str] = field(default_factory=dict)  # batch id -> the model that wrote it

    def __bool__(self) -> bool:
        return bool(self.candidates or self.jobs or self.failed)

    def apply(self, record: Mapping[str, Any]) -> None:
        """Fold one journal record in (records come in file order)."""
        op = record["op"]
        model = record.get("model")
        if op == "candidates":
            self.candidates[record["batch"]] = list(record["instructions"])
            if model:
                self.models[record["batch"]] = model
        elif op == "judged":
            self.candidates.pop(record["batch"], None)
            self.models.pop(record["batch"], None)
        elif op == "admitted":
            text = record["instruction"]
            self.jobs[text] = OpenJob(text, models={"instructions": model} if model else {})
        elif op == "labelled":
            job = self.jobs.get(record["instruction"])
            if job is not None:
                job.is_classification = record["is_classification"]
                if model:
                    job.models["classify"] = model
        elif op == "failed":
            text = record["instruction"]
            self.jobs.pop(text, None)
            self.failed[text] = record["reason"]

    def settle(self, committed: Collection[str]) -> None:
        """Drop what `tasks.jsonl` has, and candidates already judged (admitted or failed)."""
        for text in committed:
            self.jobs.pop(text, None)
        known = set(self.jobs) | set(self.failed) | set(committed)
        batches: dict[str, list[str]] = {}
        for batch, texts in self.candidates.items():
            fresh = [text for text in texts if text not in known]
            known.update(fresh)
            if fresh:
                batches[batch] = fresh
        self.candidates = batches
        self.models = {batch: model for batch, model in self.models.items() if batch in batches}

    def state(self) -> dict[str, Any]:
        """The fold (before `settle`), for the summary."""
        return {"candidates": self.candidates,
                "jobs": {text: job.is_classification for text, job in self.jobs.items()},
                "failed": self.failed,
                "models": {"batches": self.models,
                           "jobs": {text: job.models for text, job in self.jobs.items()
                                    if job.models}}}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Backlog:
        """The fold a summary holds (ValueError when it is not one)."""
        candidates, jobs, failed = state["candidates"], state["jobs"], state["failed"]
        if not (isinstance(candidates, dict) and isinstance(jobs, dict)
                and isinstance(failed, dict)):
            raise ValueError("not a journal fold")
        models = state.get("models") or {}  # none in summaries written before it existed
        if not isinstance(models, dict):
            raise ValueError("not a journal fold")
        by_job = models.get("jobs") or {}
        return cls(candidates={str(b): list(t) for b, t in candidates.items()},
                   jobs={text: OpenJob(text, label, dict(by_job.get(text) or {}))
                         for text, label in jobs.items()},
                   failed=dict(failed), models=dict(models.get("batches") or {}))

    def records(self) -> Iterable[dict[str, Any]]:
        """The journal lines that rebuild this backlog."""
        for text, reason in self.failed.items():
            yield failed(text, reason)
        for job in self.jobs.values():
            yield admitted(job.instruction, job.models.get("instructions", ""))
            if job.is_classification is not None:
                yield labelled(job.instruction, job.is_classification,
                               job.models.get("classify", ""))
        for batch, texts in self.candidates.items():
            yield candidates(batch, texts, self.models.get(batch, ""))


# --- records -----------------------------------------------------------------------------------


def candidates(batch: str, instructions: Iterable[str], model: str = "") -> dict[str, Any]:
    return _with_model({"op": "candidates", "batch": batch, "instructions": list(instructions)},
                       model)


def judged(batch: str) -> dict[str, Any]:
    return {"op": "judged", "batch": batch}


def admitted(instruction: str, model: str = "") -> dict[str, Any]:
    return _with_model({"op": "admitted", "instruction": instruction}, model)


def labelled(instruction: str, is_classification: bool, model: str = "") -> dict[str, Any]:
    return _with_model({"op": "labelled", "instruction": instruction,
                        "is_classification": is_classification}, model)


def _with_model(record: dict[str, Any], model: str) -> dict[str, Any]:
    if model:
        record["model"] = model
    return record


def failed(instruction: str, reason: str) -> dict[str, Any]:
    return {"op": "failed", "instruction": instruction, "reason": reason}


_FIELDS: dict[str, tuple[tuple[str, type | tuple[type, ...]], ...]] = {
    "candidates": (("batch", str), ("instructions", list)),
    "judged": (("batch", str),),
    "admitted": (("instruction", str),),
    "labelled": (("instruction", str), ("is_classification", bool)),
    "failed": (("instruction", str), ("reason", str)),
}


def _check(record: Mapping[str, Any], where: str) -> None:
    fields = _FIELDS.get(record.get("op"))  # type: ignore[arg-type]
    if fields is None:
        raise UsageError(f"{where}: not an asyncgen journal line (op {record.get('op')!r})")
    for name, kind in fields:
        if not isinstance(record.get(name), kind):
            raise UsageError(f"{where}: field {name!r} must be {getattr(kind, '__name__', kind)}")
    if not isinstance(record.get("model", ""), str):
        raise UsageError(f"{where}: field 'model' must be str")
    if record["op"] == "candidates" and not all(isinstance(t, str) for t in record["instructions"]):
        raise UsageError(f"{where}: field 'instructions' must be a list of strings")


# --- the file ----------------------------------------------------------------------------------


def add(backlog: Backlog, record: Mapping[str, Any], where: str) -> None:
    """Fold one decoded line in, refused (UsageError) when it is not a journal record."""
    _check(record, where)
    backlog.apply(record)


def fold(path: Path, part: Mapping[str, Any] | None = None) -> Folded[Backlog]:
    """The journal's lines folded (from the summary's `part` when it still matches), before
    `settle`; a torn last line (a kill mid-write) is skipped, any other bad line refused."""
    return fold_file(path, part, Backlog, Backlog.from_state, add)


def read(path: Path, committed: Collection[str],
         part: Mapping[str, Any] | None = None) -> Backlog:
    """Fold the journal at `path` (absent: an empty backlog); reads only.

    A torn last line (a kill mid-write) is skipped; any other bad line is a UsageError.
    """
    if not path.exists():
        return Backlog()
    if not path.is_file():
        raise UsageError(f"{path} is not a file")
    backlog = fold(path, part).fold
    backlog.settle(committed)
    return backlog


def rewrite(path: Path, backlog: Backlog) -> None:
    """Replace the journal with the lines of `backlog`, atomically (a kill leaves old or new)."""
    atomic_write(path, b"".join(
        orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE) for record in backlog.records()
    ))


def stage(path: Path, backlog: Backlog) -> Path:
    """Write the lines of `backlog` beside the journal, synced, for `Journal.compact`."""
    staged = path.with_name(path.name + STAGED_SUFFIX)
    with staged.open("wb") as f:
        for record in backlog.records():
            f.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
        f.flush()
        os.fsync(f.fileno())
    return staged


class Journal:
    """The run's append handle on the journal; the filter is its only writer."""

    __slots__ = ("path", "_lines")

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lines: LineAppender | None = None

    def __repr__(self) -> str:
        return f"<Journal {str(self.path)!r}>"

    def open(self) -> None:
        self._lines = LineAppender(self.path)

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one record as one whole line (synchronous: no cancellation mid-line)."""
        assert self._lines is not None, "Journal.open() first"
        self._lines.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))

    def compact(self, staged: Path, covered: int) -> None:
        """Replace the journal with `staged` (the settled fold of its first `covered` bytes)
        and the lines appended after them. Synchronous, on the event loop: no write of the
        filter falls between the copy of those lines and the swap."""
        assert self._lines is not None, "Journal.open() first"
        self._lines = swap_in(self._lines, staged, covered)

    def close(self) -> None:
        if self._lines is not None:
            self._lines.close()
