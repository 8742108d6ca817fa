"""A task's similarity fields, with the released meaning: scored against the whole pool.

The released bootstrap_instructions.py scores each new instruction against every instruction in
the pool (seeds and generated) and records `most_similar` (the 10 best, with their ROUGE-L F)
and `avg_similarity_score` (the mean over the pool). `most_similar_seed` adds the quantity of
the paper's Figure 4: the best score against a seed instruction.

Admission does not need these (it stops at the first instruction above the threshold, in
`asyncgen.novelty.similarity`); they need every score. `PoolScores` keeps each pool instruction as a
token-coded string (one character per token, as `RougeLIndex` does). A pass scores a *batch*
of admitted candidates against the pool at once: rapidfuzz's C++ `process.cdist` with `LCSseq`
compares several candidates with each pool instruction in one SIMD step, so a batch of 32 costs
about what 4 single candidates do. The pool is scanned in chunks of `CHUNK` instructions (one
cdist call holds the GIL only while it converts its chunk: a few ms, so the event loop is not
stalled) by one thread per core, each owning every other chunk. An LCS length L between m and n
tokens has one F-measure, so each candidate's F values come from a table of rouge-score's float
operations in its order (the same bits) indexed by (L, n); the mean is the sum of the whole row,
the top 10 are kept per chunk under the running 10th best.

`submit` queues a candidate's query (never blocks) and returns the `Pending` its job carries;
`run` (run by `asyncgen.rundir.fields.FieldsPass`) scores whatever is queued in one pass, while the
jobs are classified and generated. The scanning threads run at a lower CPU priority
(`SCAN_NICE`): on a machine whose cores are busy, the event loop gets them first, and the
fields wait. Nothing else waits for them: neither the sampler nor the commit of a task whose
fields are not ready (it is committed without them, see asyncgen.rundir.fields).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import anyio
import numpy as np
from numpy.typing import NDArray
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from asyncgen.novelty.rouge import UNKNOWN, f_measures, token_char, tokenize

__all__ = ["MOST_SIMILAR_KEPT", "Neighbours", "Pending", "PoolScores", "Query"]

MOST_SIMILAR_KEPT = 10  # released: the 10 most similar pool instructions
BATCH_MAX = 64  # candidates scored in one pass over the pool
CHUNK = 1 << 16  # pool instructions per cdist call (bounds its GIL hold and its matrix)
THREADS = max(1, min(os.cpu_count() or 1, 4))  # scanning threads, each on its own chunks
SCAN_NICE = 10  # the scanning threads' niceness (Linux: per thread), above the loop's
_TABLE_MAX = 1 << 18  # (L, n) cells of one candidate's F table; beyond it, F row by row
_LCS_LENGTH: Any = LCSseq.similarity  # an integer scorer; rapidfuzz's stubs say float
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Neighbours:
    """The similarity fields of one task, against the pool it was admitted into."""

    most_similar: dict[str, float] = field(default_factory=dict)
    avg_similarity_score: float = 0.0
    most_similar_seed: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Query:
    """A candidate and the pool as it stood at its admission (its first `size` entries)."""

    seq: str
    size: int
    dead: NDArray[np.bool_] | None  # discarded entries among them, None when none was


class _Row:
    """One candidate's running totals in one scanning thread: F sum, best keys, best seed."""

    __slots__ = ("query", "table", "total", "keys", "values", "seed")

    def __init__(self, query: Query, table: NDArray[np.float64] | None) -> None:
        self.query = query
        self.table = table  # F by L * width + n; None: computed from the formula
        self.total = 0.0  # sum of F over the live entries scanned
        self.keys: NDArray[np.int64] = np.zeros(0, dtype=np.int64)  # the best 10 so far,
        self.values: NDArray[np.float64] = np.zeros(0)  # ordered by -F, then key
        self.seed: tuple[float, int] | None = None  # best seed so far: F, key

    def keep(self, keys: NDArray[np.int64], values: NDArray[np.float64]) -> None:
        """Merge entries into the best 10 (ties: lowest keys first, as the released sort)."""
        keys = np.concatenate([self.keys, keys])
        values = np.concatenate([self.values, values])
        order = np.lexsort((keys, -values))[:MOST_SIMILAR_KEPT]
        self.keys, self.values = keys[order], values[order]

    def merge(self, other: _Row) -> None:
        """Add another thread's totals for the same candidate."""
        self.total += other.total
        self.keep(other.keys, other.values)
        if other.seed is not None and (self.seed is None
                                       or (-other.seed[0], other.seed[1])
                                       < (-self.seed[0], self.seed[1])):
            self.seed = other.seed


class PoolScores:
    """Every pool instruction as a token-coded string; the event loop's thread adds and
    discards, the scanning threads read only the entries a `Query` covers."""

    __slots__ = ("_codes", "_dead", "_discarded", "_lengths", "_longest", "_queue", "_seeds",
                 "_seqs", "_size", "_texts", "_wake", "_closed", "scored", "passes",
                 "busy_s", "_threads")

    def __init__(self, seeds: Sequence[str] = ()) -> None:
        self._codes: dict[str, str] = {}  # token -> its character
        self._seqs: list[str] = []  # key -> token-coded string
        self._texts: list[str] = []  # key -> instruction
        self._lengths: NDArray[np.int32] = np.zeros(1024, dtype=np.int32)  # key -> tokens
        self._dead: NDArray[np.bool_] = np.zeros(1024, dtype=np.bool_)  # key -> discarded
        self._longest = 0  # most tokens of any pool instruction
        self._discarded = 0
        self._size = 0
        self._queue: deque[tuple[Query, Pending]] = deque()  # submitted, not yet scored
        self._wake = anyio.Event()
        self._closed = False
        self.scored = 0  # candidates whose fields were handed over
        self.passes = 0  # passes over the pool (one per batch)
        self.busy_s = 0.0  # wall time spent in passes
        self._threads: ThreadPoolExecutor | None = None  # the scanning threads, while `run`s
        for text in seeds:
            self.add(text)
        self._seeds = len(seeds)

    def __len__(self) -> int:
        return self._size - self._discarded

    def __repr__(self) -> str:
        return (f"<PoolScores pool={len(self)} queued={len(self._queue)} scored={self.scored}"
                f" passes={self.passes}>")

    def add(self, text: str) -> int:
        """Add a pool instruction; keys count up from 0, in the order of `add`."""
        codes = self._codes
        seq = "".join([codes.get(t) or codes.setdefault(t, token_char(len(codes) + 1))
                       for t in tokenize(text)])
        key = self._size
        if key == len(self._lengths):  # grow by copying: a Query's arrays stay as they were
            self._lengths = np.concatenate([self._lengths, np.zeros_like(self._lengths)])
            self._dead = np.concatenate([self._dead, np.zeros_like(self._dead)])
        self._lengths[key] = len(seq)
        self._longest = max(self._longest, len(seq))
        self._seqs.append(seq)
        self._texts.append(text)
        self._size += 1
        return key

    def discard(self, key: int) -> None:
        """Forget an instruction released from the pool (later queries do not see it)."""
        if not 0 <= key < self._size or self._dead[key]:
            raise KeyError(f"no instruction with key {key}")
        self._dead[key] = True
        self._discarded += 1

    def query(self, text: str) -> Query:
        """`text` against the pool as it is now (call before adding `text` itself)."""
        return self.query_at(text, self._size)

    def query_at(self, text: str, size: int) -> Query:
        """`text` against the pool's first `size` entries (a resumed task's pool: the seeds and
        the tasks before it, whose keys come first)."""
        if not 0 <= size <= self._size:
            raise ValueError(f"size {size} out of the pool's 0..{self._size}")
        codes = self._codes
        seq = "".join([codes.get(token, UNKNOWN) for token in tokenize(text)])
        dead = self._dead[:size].copy() if self._discarded else None
        return Query(seq, size, dead)

    # --- scoring, off the event loop -----------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """For run.progress: the queue and what the passes cost."""
        return {"queued": len(self._queue), "scored": self.scored, "passes": self.passes,
                "ms_per_candidate": round(1e3 * self.busy_s / self.scored, 2)
                if self.scored else None}

    def submit(self, query: Query) -> Pending:
        """Queue `query` for the next pass (`run`); never waits."""
        if self._closed:
            raise RuntimeError("PoolScores.close() was called: no more queries")
        pending = Pending()
        self._queue.append((query, pending))
        self._wake.set()
        return pending

    def close(self) -> None:
        """No more queries: `run` returns once the queue is scored."""
        self._closed = True
        self._wake.set()

    async def run(self) -> None:
        """Score queued queries a batch per pass, in the scanning threads, until `close`."""
        self._threads = ThreadPoolExecutor(THREADS, thread_name_prefix="neighbours",
                                           initializer=_lower_priority)
        try:
            await self._serve()
        finally:
            self._threads.shutdown(wait=False, cancel_futures=True)
            self._threads = None

    async def _serve(self) -> None:
        while True:
            if not self._queue:
                if self._closed:
                    return
                await self._wake.wait()
                self._wake = anyio.Event()
                continue
            batch = [self._queue.popleft() for _ in range(min(BATCH_MAX, len(self._queue)))]
            started = time.perf_counter()
            results = await self._scored([query for query, _ in batch])
            self.busy_s += time.perf_counter() - started
            self.passes += 1
            self.scored += len(batch)
            for (_, pending), value in zip(batch, results, strict=True):
                pending.set(value)

    async def _scored(self, queries: Sequence[Query]) -> list[Neighbours]:
        """One pass, its chunks shared out among the scanning threads (the F tables too:
        64 of them were tens of ms of numpy on the loop)."""
        rows, width = await self._in_thread(partial(self._rows, queries))
        chunks = range(0, max(query.size for query in queries), CHUNK)
        shares = [chunks[n::THREADS] for n in range(min(THREADS, len(chunks)))]
        parts = [rows] + [[_Row(row.query, row.table) for row in rows] for _ in shares[1:]]
        async with anyio.create_task_group() as tg:
            for part, share in zip(parts, shares, strict=True):
                tg.start_soon(self._in_thread, partial(self._scan, part, width, share))
        return await self._in_thread(partial(self._merged, parts))

    async def _in_thread(self, work: Callable[[], _T]) -> _T:
        """`work` in a scanning thread (in anyio's worker threads outside `run`)."""
        if self._threads is None:
            return await anyio.to_thread.run_sync(work)
        future: Future[_T] = self._threads.submit(work)
        return await anyio.to_thread.run_sync(future.result)  # waits; the work is elsewhere

    def neighbours(self, query: Query) -> Neighbours:
        """The similarity fields of one query, in this thread (tests, benchmarks)."""
        rows, width = self._rows([query])
        self._scan(rows, width, range(0, query.size, CHUNK))
        return self._fields(rows[0])

    def _rows(self, queries: Sequence[Query]) -> tuple[list[_Row], int]:
        """Each query's F table by (L, n), with rouge-score's float operations in order."""
        width = self._longest + 1
        n = np.arange(width, dtype=np.float64)
        rows = []
        for query in queries:
            m = len(query.seq)
            table = None
            if (m + 1) * width <= _TABLE_MAX:
                lcs = np.arange(m + 1, dtype=np.float64)[:, None]
                table = f_measures(lcs, m, n[None, :]).ravel()
            rows.append(_Row(query, table))
        return rows, width

    def _scan(self, rows: Sequence[_Row], width: int, chunks: Sequence[int]) -> None:
        """Score `rows` against the pool chunks starting at `chunks` (a scanning thread)."""
        seqs = [row.query.seq for row in rows]
        dtype = np.uint8 if max(map(len, seqs)) <= 255 else np.int32  # L <= candidate length
        size = max(row.query.size for row in rows)
        for start in chunks:
            end = min(start + CHUNK, size)
            lcs = process.cdist(seqs, self._seqs[start:end], scorer=_LCS_LENGTH, dtype=dtype,
                                workers=1)
            lengths = self._lengths[start:end]
            for row, lcs_row in zip(rows, lcs, strict=True):
                stop = min(end, row.query.size) - start
                if stop > 0:
                    _add_chunk(row, lcs_row[:stop], lengths[:stop], width, start, self._seeds)

    def _merged(self, parts: Sequence[Sequence[_Row]]) -> list[Neighbours]:
        """Every thread's totals for each candidate, made into its fields."""
        rows = parts[0]
        for others in parts[1:]:
            for row, other in zip(rows, others, strict=True):
                row.merge(other)
        return [self._fields(row) for row in rows]

    def _fields(self, row: _Row) -> Neighbours:
        """The fields from a finished row: top 10 (ties: lowest keys), mean, best seed."""
        query = row.query
        live = query.size - (int(query.dead.sum()) if query.dead is not None else 0)
        if not live:
            return Neighbours()
        texts = self._texts
        most_similar: dict[str, float] = {}
        for key, value in zip(row.keys.tolist(), row.values.tolist(), strict=True):
            most_similar.setdefault(texts[key], value)
        best_seed = {} if row.seed is None else {texts[row.seed[1]]: row.seed[0]}
        return Neighbours(most_similar, row.total / live, best_seed)


def _lower_priority() -> None:
    """Make the calling (scanning) thread yield the CPU to the event loop's thread."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), SCAN_NICE)
    except (AttributeError, OSError):  # not Linux (the whole process), or not allowed
        pass


def _add_chunk(row: _Row, lcs: NDArray[Any], lengths: NDArray[np.int32], width: int,
               start: int, seeds: int) -> None:
    """Fold one chunk's LCS lengths into `row` (chunks come in key order in each thread)."""
    if row.table is not None:
        cell = lcs.astype(np.int32)
        cell *= width
        cell += lengths
        scores = row.table[cell]
    else:
        scores = f_measures(lcs.astype(np.float64), len(row.query.seq),
                            lengths.astype(np.float64))
    if row.query.dead is not None:
        dead = row.query.dead[start:start + len(scores)]
        scores[dead] = 0.0
        row.total += float(scores.sum())
        scores[dead] = -1.0  # never ranked
    else:
        row.total += float(scores.sum())
    if start < seeds:
        head = scores[: seeds - start]
        best = int(np.argmax(head))
        if head[best] >= 0 and (row.seed is None or head[best] > row.seed[0]):
            row.seed = (float(head[best]), start + best)
    k = MOST_SIMILAR_KEPT
    if len(row.keys) < k:  # this chunk's best 10 (ties: the lowest keys)
        kth = np.partition(scores, len(scores) - k)[len(scores) - k] if len(scores) > k else 0.0
        kth = max(kth, 0.0)
        chosen = np.concatenate([np.flatnonzero(scores > kth),
                                 np.flatnonzero(scores == kth)[:k]])
    else:  # a tie with the 10th kept has a higher key than the 10 kept: it cannot enter
        chosen = np.flatnonzero(scores > row.values[-1])
    if len(chosen):
        row.keep(chosen + start, scores[chosen])


class Pending:
    """A task's neighbours while they are computed; awaited when the task is committed."""

    __slots__ = ("_done", "_value")

    def __init__(self, value: Neighbours | None = None) -> None:
        self._done = anyio.Event()
        self._value = value
        if value is not None:
            self._done.set()

    def peek(self) -> Neighbours | None:
        """The fields if they are ready (no wait), else None."""
        return self._value

    def set(self, value: Neighbours) -> None:
        self._value = value
        self._done.set()

    async def get(self) -> Neighbours:
        await self._done.wait()
        assert self._value is not None
        return self._value
