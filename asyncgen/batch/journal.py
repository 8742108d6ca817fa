"""OUT/batches.jsonl: every batch's life, written before each step that could cost money.

One record per step, each a whole JSON line (`asyncgen.jsonl.LineAppender`):

    planned    seq, stage, endpoint, worst_usd, lines [[custom_id, key, next_number]]
               (before the file is uploaded; `key` is the request body's digest)
    uploaded   seq, file_id              (before the batch is created from it; for OpenRouter,
                                         which takes no file, what finds a lost submission)
    submitted  seq, batch_id             (as soon as the provider has answered the create)
    collected  seq, batch_id, status, cost_usd, results {custom_id: result}
    abandoned  seq, reason               (never submitted, nothing billed)

A kill -9 between any two records leaves a state resume knows how to finish (`BatchClient`):
planned only: never uploaded or created, abandoned; uploaded: the batch may have been created
with no answer back, so the provider's batches are searched for that input file; submitted:
re-attached and polled; collected: its results serve any request with the same body.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from asyncgen.jsonl import JsonlFile, LineAppender, settle_tail


@dataclass(slots=True)
class JournaledBatch:
    """One batch as the journal left it."""

    seq: str
    stage: str
    endpoint: str
    worst_usd: float
    lines: list[tuple[str, str, int | None]]  # custom_id, body key, next number
    file_id: str | None = None
    batch_id: str | None = None
    status: str | None = None  # set once collected or abandoned
    results: dict[str, dict[str, Any]] = field(default_factory=dict)


class BatchJournal:
    """The append-only journal of one output directory's batches; its BatchClient is the only
    writer."""

    __slots__ = ("path", "_out")

    def __init__(self, path: Path) -> None:
        self.path = path
        self._out: LineAppender | None = None

    def __repr__(self) -> str:
        return f"<BatchJournal {str(self.path)!r}>"

    def load(self) -> list[JournaledBatch]:
        """Every batch recorded so far, in order (a torn last line is cut first)."""
        settle_tail(self.path)
        if not self.path.exists():
            return []
        batches: dict[str, JournaledBatch] = {}
        for _, rec in JsonlFile(self.path):
            kind, seq = rec.get("r"), str(rec.get("seq"))
            if kind == "planned":
                lines = [(str(c), str(k), n if isinstance(n, int) else None)
                         for c, k, n in rec["lines"]]
                batches[seq] = JournaledBatch(seq, str(rec["stage"]), str(rec["endpoint"]),
                                              float(rec["worst_usd"]), lines)
                continue
            batch = batches.get(seq)
            if batch is None:
                continue
            if kind == "uploaded":
                batch.file_id = str(rec["file_id"])
            elif kind == "submitted":
                batch.batch_id = str(rec["batch_id"])
            elif kind == "collected":
                batch.status = str(rec["status"])
                batch.results = dict(rec.get("results") or {})
            elif kind == "abandoned":
                batch.status = "abandoned"
        return list(batches.values())

    def open(self) -> None:
        if self._out is None:
            self._out = LineAppender(self.path)

    def close(self) -> None:
        if self._out is not None:
            out, self._out = self._out, None
            out.close()

    def _write(self, record: dict[str, Any]) -> None:
        if self._out is None:
            self.open()
        assert self._out is not None
        self._out.write(orjson.dumps(record) + b"\n")

    def planned(self, seq: str, stage: str, endpoint: str, worst_usd: float,
                lines: list[tuple[str, str, int | None]]) -> None:
        self._write({"r": "planned", "seq": seq, "stage": stage, "endpoint": endpoint,
                     "worst_usd": worst_usd, "lines": lines})

    def uploaded(self, seq: str, file_id: str) -> None:
        self._write({"r": "uploaded", "seq": seq, "file_id": file_id})

    def submitted(self, seq: str, batch_id: str) -> None:
        self._write({"r": "submitted", "seq": seq, "batch_id": batch_id})

    def collected(self, seq: str, batch_id: str, status: str, cost_usd: float,
                  results: dict[str, dict[str, Any]]) -> None:
        self._write({"r": "collected", "seq": seq, "batch_id": batch_id, "status": status,
                     "cost_usd": cost_usd, "results": results})

    def abandoned(self, seq: str, reason: str) -> None:
        self._write({"r": "abandoned", "seq": seq, "reason": reason})
