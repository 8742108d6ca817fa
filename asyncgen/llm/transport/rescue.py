"""`OUT/rescued.jsonl`: answers a run paid for and never read, kept by its courier for the next run.

A run's HTTP exchange goes through its courier (`llm.transport.courier`), a child process that
outlives it. When the run dies with requests in flight (kill -9 included), or cancels requests
it had already sent (drain deadline, second signal, target), the provider bills them anyway:
the courier finishes each one (bounded by its own timeout) and appends its answer here, one
whole line per answer (`asyncgen.jsonl.LineAppender`, one write(2)):

    {"v": 1, "id": "3f2a…-17", "run": "3f2a…", "stage": "classify", "key": sha256(body),
     "shape": "9.\\"}]}", "r": 42, "usd": 0.00093, "status": 200, "headers": {...},
     "body": "{...}", "delivered": false, "endpoint": "a"}
                              an answer (r/usd: its spend reservation; endpoint: the pool's
                              endpoint that answered it, absent for a run of one endpoint)
    {"used": "3f2a…-17"}                               the next run answered a request with it

One writer at a time: the live courier (it holds `OUT/.courier.lock`), and between couriers the
run starting up, which folds the file (`read`) and replaces it atomically (`rewrite`) with the
answers not yet used, each marked `"settled": true` once its money has been accounted.

An answer `delivered` had reached the run's socket, unacknowledged, when the run died: the run
may have read it, and settled it, before it died (its work may be journaled or not).

**Money.** The dead run's spend journal counts each rescued request at its whole reservation
(never settled, or settled at its reservation because it was cancelled after being sent). The
next run settles it at what the provider billed (`asyncgen.llm.client.billed_usd`), once: the
file is rewritten with `settled` *before* the spend journal's line that applies it, so a crash
between the two leaves the figure high (≥ billed), never low. A `delivered` answer is not
settled again: the dead run may have done it already, so the figure stays as that run left it.

**Work.** Classification and instance prompts are a pure function of the instruction (and
the demonstrations), so a request whose body digest (`key`) matches an answer is answered from
it without being sent. Generation prompts are sampled, so their bodies differ: a rescued
generation answer serves the next generation request whose body ends the same way (`shape`:
the same number for the model to continue). Each answer is used at most once, across any number
of kills: its `used` mark is written (by the courier, acknowledged) before the run uses it.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from asyncgen.errors import UsageError
from asyncgen.jsonl import JsonlFile, atomic_write

VERSION = 1
GENERATION = "instructions"
_ESCAPED_NEWLINE = b"\\n"


def key(body: bytes) -> str:
    """What identifies a request: the digest of its body."""
    return hashlib.sha256(body).hexdigest()


def shape(body: bytes) -> str:
    """A generation request's body after the prompt's last line break: the number the model is
    to continue from, and the JSON that closes the body (a sampled prompt differs before it)."""
    return body[body.rfind(_ESCAPED_NEWLINE) + 2:].decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class Answer:
    """One rescued answer: what was asked (stage, key, shape), what it held, what came back."""

    id: str
    run: str
    stage: str
    key: str
    shape: str
    reservation: int | None  # the spend journal's reservation number in `run`
    reserved_usd: float  # what the spend journal counts for it until it is settled
    status: int
    headers: Mapping[str, str]
    body: bytes
    settled: bool = False  # its money is already in the spend journal's figure
    delivered: bool = False  # it reached the run, which may have settled it itself
    endpoint: str = ""  # the `[[endpoints]]` name that answered it ("": a run of one)

    @property
    def usable(self) -> bool:
        """A successful answer, one that can answer a request."""
        return 200 <= self.status < 300


def answer_line(*, id: str, run: str, stage: str, body: bytes, reservation: int | None,
                reserved_usd: float, status: int, headers: Mapping[str, str],
                answer: bytes, delivered: bool = False, endpoint: str = "") -> bytes:
    """The line the courier appends for one answer (`body`: the request's, `answer`: the
    response's)."""
    record = {"v": VERSION, "id": id, "run": run, "stage": stage, "key": key(body),
              "shape": shape(body) if stage == GENERATION else "", "r": reservation,
              "usd": reserved_usd, "status": status, "headers": dict(headers),
              "body": answer.decode("utf-8", "replace"), "delivered": delivered}
    if endpoint:
        record["endpoint"] = endpoint
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)


def used_line(answer_id: str) -> bytes:
    """The line that marks an answer as used."""
    return orjson.dumps({"used": answer_id}, option=orjson.OPT_APPEND_NEWLINE)


def _record(answer: Answer) -> dict[str, Any]:
    endpoint = {"endpoint": answer.endpoint} if answer.endpoint else {}
    return {**endpoint, "v": VERSION, "id": answer.id, "run": answer.run, "stage": answer.stage,
            "key": answer.key, "shape": answer.shape, "r": answer.reservation,
            "usd": answer.reserved_usd, "status": answer.status,
            "headers": dict(answer.headers), "body": answer.body.decode("utf-8", "replace"),
            "settled": answer.settled, "delivered": answer.delivered}


def _answer(record: Mapping[str, Any], where: str) -> Answer:
    try:
        reservation = record["r"]
        headers = record["headers"]
        parsed = Answer(
            id=str(record["id"]), run=str(record["run"]), stage=str(record["stage"]),
            key=str(record["key"]), shape=str(record.get("shape", "")),
            reservation=None if reservation is None else int(reservation),
            reserved_usd=float(record["usd"]), status=int(record["status"]),
            headers={str(k): str(v) for k, v in headers.items()},
            body=str(record["body"]).encode(), settled=bool(record.get("settled", False)),
            delivered=bool(record.get("delivered", False)),
            endpoint=str(record.get("endpoint", "")),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise UsageError(f"{where}: not a rescued answer written by asyncgen") from None
    if record.get("v") != VERSION or not parsed.reserved_usd >= 0:
        raise UsageError(f"{where}: not a rescued answer written by asyncgen")
    return parsed


def read(path: Path) -> list[Answer]:
    """The answers of `path` not used yet, in file order (no file: none); reads only.
    A torn last line is skipped; any other bad line is a UsageError."""
    if not path.exists():
        return []
    answers: dict[str, Answer] = {}
    used: set[str] = set()
    for lineno, record in JsonlFile(path):
        where = f"{path}, line {lineno}"
        if "used" in record:
            used.add(str(record["used"]))
            continue
        answer = _answer(record, where)
        answers[answer.id] = answer
    return [answer for answer_id, answer in answers.items() if answer_id not in used]


def rewrite(path: Path, answers: Iterable[Answer]) -> None:
    """Replace `path` with `answers`, each marked settled, atomically (a kill leaves the old
    file or the new one, never a mix)."""
    atomic_write(path, b"".join(
        orjson.dumps(_record(replace(answer, settled=True)), option=orjson.OPT_APPEND_NEWLINE)
        for answer in answers
    ))


class Rescue:
    """The usable answers a run may answer requests with; each is taken once.

    Built by the run before it sends; the client is its one taker (OUT/rescued.jsonl itself
    is written by the courier, see the module docstring)."""

    __slots__ = ("_by_key", "_by_shape", "_left")

    def __init__(self, answers: Iterable[Answer] = ()) -> None:
        self._by_key: dict[tuple[str, str], deque[Answer]] = defaultdict(deque)
        self._by_shape: dict[str, deque[Answer]] = defaultdict(deque)
        self._left = 0
        for answer in answers:
            if not answer.usable:
                continue
            if answer.stage == GENERATION:
                self._by_shape[answer.shape].append(answer)
            else:
                self._by_key[(answer.stage, answer.key)].append(answer)
            self._left += 1

    def __bool__(self) -> bool:
        return self._left > 0

    def __len__(self) -> int:
        return self._left

    def __repr__(self) -> str:
        generation = sum(len(q) for q in self._by_shape.values())
        return f"<Rescue left={self._left} generation={generation}>"

    def take(self, stage: str, body: bytes) -> Answer | None:
        """The answer for a request of `stage` with this body, removed (None: send it)."""
        if stage == GENERATION:
            queue = self._by_shape.get(shape(body))
        else:
            queue = self._by_key.get((stage, key(body)))
        if not queue:
            return None
        self._left -= 1
        return queue.popleft()
