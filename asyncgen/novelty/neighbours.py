"""A task's similarity fields, with the released meaning: scored against the whole pool.

The released bootstrap_instructions.py scores each new instruction against every instruction in
the pool (seeds and generated) and records `most_similar` (the 10 best, with their ROUGE-L F)
and `avg_similarity_score` (the mean over the pool). `most_similar_seed` adds the quantity of
the paper's Figure 4: the best score against a seed instruction.

Admission does not need these (it stops at the first instruction above the threshold, in
`asyncgen.novelty.similarity`); they need every score. `PoolScores` keeps each pool instruction
as a token-coded string (one character per token, as `RougeLIndex` does), and the code points
of them all in one flat array. A pass scores a *batch*
of admitted candidates against the pool at once. A candidate of at most 64 tokens (nearly all)
is scored by the compiled kernel `asyncgen.novelty.scan`: bit-parallel LCS over the flat array,
KERNEL_BATCH candidates per read of the pool, F, mean, best 10 and best seed in the same loop,
without the GIL, the pool's keys split among the scanning threads (one per core, each its own
range). A longer one goes to rapidfuzz's C++ `process.cdist` with `LCSseq`, the pool scanned in
chunks of `CHUNK` instructions (one cdist call holds the GIL while it converts its chunk). An
LCS length L between m and n tokens has one F-measure, so each candidate's F values come from
a table of rouge-score's float operations in its order (the same bits) indexed by (L, n).

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
import zlib
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
from asyncgen.novelty.scan import WORD, scan

__all__ = ["MOST_SIMILAR_KEPT", "Neighbours", "Pending", "PoolScores", "Query"]

MOST_SIMILAR_KEPT = 10  # released: the 10 most similar pool instructions
BATCH_MAX = 64  # candidates scored in one pass over the pool
KERNEL_BATCH = 32  # candidates per `scan` call: each pool token read once for all of them
SHARE_MIN = 4096  # pool keys per scanning thread, at least (fewer: not worth a thread)
CHUNK = 1 << 16  # pool instructions per cdist call (bounds its GIL hold and its matrix)
THREADS = max(1, min(os.cpu_count() or 1, 4))  # scanning threads, each on its own chunks
SCAN_NICE = 10  # the scanning threads' niceness (Linux: per thread), above the loop's
_TABLE_MAX = 1 << 18  # (L, n) cells of one candidate's F table; beyond it, F row by row
_ALL_KEYS: NDArray[np.int64] = np.zeros(0, dtype=np.int64)  # scan: a range of keys, not a list
_LCS_LENGTH: Any = LCSseq.similarity  # an integer scorer; rapidfuzz's stubs say float
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Neighbours:
    """The similarity fields of one task, against the pool it was admitted into."""

    most_similar: dict[str, float] = field(default_factory=dict)
    avg_similarity_score: float = 0.0
    most_similar_seed: dict[str, float] = field(default_factory=dict)
    sample: int = 0  # estimated (`--fields sample`): generated instructions sampled; 0: exact
    stderr: float = 0.0  # the estimated mean's standard error (0 when exact)


@dataclass(frozen=True, slots=True)
class Query:
    """A candidate and the pool as it stood at its admission (its first `size` entries)."""

    seq: str
    size: int
    dead: NDArray[np.bool_] | None  # discarded entries among them, None when none was


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A batch's inputs to `scan` (the pool's arrays as they stood: `add` grows by copying)."""

    tokens: NDArray[np.uint32]
    starts: NDArray[np.int64]
    lengths: NDArray[np.int32]
    slots: NDArray[np.int32]  # code point -> its row of `masks`; 0: in no candidate
    masks: NDArray[np.uint64]  # slot -> one word per candidate, bit i: its i-th token
    full: NDArray[np.uint64]  # per candidate: its m low bits set
    sizes: NDArray[np.int64]  # per candidate: the pool keys it is scored against
    tables: NDArray[np.float64]  # per candidate: F by L * width + n
    width: int


class _Row:
    """One candidate's running totals in one scanning thread: F sum, best keys, best seed."""

    __slots__ = ("query", "table", "total", "squares", "keys", "values", "seed")

    def __init__(self, query: Query, table: NDArray[np.float64] | None) -> None:
        self.query = query
        self.table = table  # F by L * width + n; None: computed from the formula
        self.total = 0.0  # sum of F over the live entries scanned
        self.squares = 0.0  # sum of F squared (the kernel's; for `estimate`)
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
                 "busy_s", "_threads", "_tokens", "_starts", "_top_code", "sample", "_end",
                 "_synced")

    def __init__(self, seeds: Sequence[str] = (), *, sample: int = 0) -> None:
        self.sample = sample  # > 0: estimated fields (`estimate`) once the pool is bigger
        self._codes: dict[str, str] = {}  # token -> its character
        self._seqs: list[str] = []  # key -> token-coded string
        self._texts: list[str] = []  # key -> instruction
        self._lengths: NDArray[np.int32] = np.zeros(1024, dtype=np.int32)  # key -> tokens
        self._dead: NDArray[np.bool_] = np.zeros(1024, dtype=np.bool_)  # key -> discarded
        self._longest = 0  # most tokens of any pool instruction
        # every instruction's characters as code points, one after the other (`scan`)
        self._tokens: NDArray[np.uint32] = np.zeros(1 << 14, dtype=np.uint32)
        self._starts: NDArray[np.int64] = np.zeros(1024 + 1, dtype=np.int64)  # key -> first
        self._top_code = 0  # the highest code point in `_tokens`
        self._end = 0  # code points of the pool, all told
        self._synced = 0  # keys whose code points are in `_tokens` (`_sync`)
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
            self._starts = np.concatenate([self._starts, np.zeros_like(self._starts)])
        self._end += len(seq)
        self._starts[key + 1] = self._end  # its code points: copied in by `_sync`
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
        """One pass: the candidates the compiled kernel takes (`scan`: at most 64 tokens, no
        discarded entry) KERNEL_BATCH at a time, the others with rapidfuzz."""
        results: list[Neighbours | None] = [None] * len(queries)
        if self.sample:
            sampled = [n for n, query in enumerate(queries) if self._sampled(query)]
            shares = [sampled[n::THREADS] for n in range(min(THREADS, len(sampled)))]

            async def share(part: list[int]) -> None:
                estimates = await self._in_thread(partial(
                    self._estimates, [queries[n] for n in part]))
                for n, value in zip(part, estimates, strict=True):
                    results[n] = value

            async with anyio.create_task_group() as tg:
                for part in shares:
                    tg.start_soon(share, part)
        fits = [results[n] is None and query.dead is None and len(query.seq) <= WORD
                for n, query in enumerate(queries)]
        kernel = [n for n, fit in enumerate(fits) if fit]
        for at in range(0, len(kernel), KERNEL_BATCH):
            part = kernel[at:at + KERNEL_BATCH]
            for n, value in zip(part, await self._compiled([queries[n] for n in part]),
                                strict=True):
                results[n] = value
        rest = [n for n, fit in enumerate(fits) if not fit and results[n] is None]
        if rest:
            for n, value in zip(rest, await self._cdist([queries[n] for n in rest]),
                                strict=True):
                results[n] = value
        return [value for value in results if value is not None]

    async def _compiled(self, queries: Sequence[Query]) -> list[Neighbours]:
        """One kernel pass (`scan`), the pool's keys split among the scanning threads."""
        prepared = await self._in_thread(partial(self._prepare, queries))
        size = max(query.size for query in queries)
        shares = min(THREADS, max(1, size // SHARE_MIN))
        bounds = [size * n // shares for n in range(shares + 1)]
        parts: list[list[_Row]] = [[] for _ in range(shares)]

        async def share(n: int) -> None:
            parts[n] = await self._in_thread(partial(self._scan_keys, queries, prepared,
                                                     bounds[n], bounds[n + 1]))

        async with anyio.create_task_group() as tg:
            for n in range(shares):
                tg.start_soon(share, n)
        return await self._in_thread(partial(self._merged, parts))

    def _sync(self, size: int) -> None:
        """Copy the code points of keys up to `size` into the flat array (a scanning thread;
        one pass at a time: its only writer). A slice of keys at a time: a resumed pool's
        million are not one long hold of the GIL."""
        while self._synced < size:
            first, last = self._synced, min(size, self._synced + CHUNK)
            points = np.frombuffer("".join(self._seqs[first:last]).encode("utf-32-le"),
                                   dtype=np.uint32)
            start = int(self._starts[first])
            end = start + len(points)
            if end > len(self._tokens):  # grow by copying, as `add` does
                self._tokens = np.concatenate([self._tokens, np.zeros(
                    max(end, len(self._tokens)), dtype=np.uint32)])
            self._tokens[start:end] = points
            if len(points):
                self._top_code = max(self._top_code, int(points.max()))
            self._synced = last

    def _prepare(self, queries: Sequence[Query]) -> _Prepared:
        """The kernel's inputs for a batch: bit masks by code point, F tables, sizes."""
        self._sync(max(query.size for query in queries))
        rows, width = self._rows(queries, full=True)
        top = self._top_code
        slot_of: dict[int, int] = {}  # the batch's pool codes, numbered from 1
        bits: list[list[int]] = []  # by slot - 1: each candidate's mask
        full = np.zeros(len(queries), dtype=np.uint64)
        tables = np.zeros((len(queries), (WORD + 1) * width))
        for j, (query, row) in enumerate(zip(queries, rows, strict=True)):
            for i, char in enumerate(query.seq):
                code = ord(char)
                if code <= top:  # UNKNOWN and codes handed out later: no match
                    slot = slot_of.setdefault(code, len(slot_of) + 1)
                    if slot > len(bits):
                        bits.append([0] * len(queries))
                    bits[slot - 1][j] |= 1 << i
            full[j] = np.uint64((1 << len(query.seq)) - 1)
            assert row.table is not None
            tables[j, :len(row.table)] = row.table
        sizes = np.array([query.size for query in queries], dtype=np.int64)
        slots = np.zeros(top + 1, dtype=np.int32)
        slots[list(slot_of)] = list(slot_of.values())
        masks = np.zeros((len(bits) + 1, len(queries)), dtype=np.uint64)
        if bits:
            masks[1:] = np.array(bits, dtype=np.uint64)
        return _Prepared(self._tokens, self._starts, self._lengths, slots, masks, full, sizes,
                         tables, width)

    def _scan_keys(self, queries: Sequence[Query], prepared: _Prepared, lo: int,
                   hi: int, chosen: NDArray[np.int64] = _ALL_KEYS) -> list[_Row]:
        """Keys lo..hi-1 (or chosen[lo..hi-1]) against the batch, in a scanning thread (the
        GIL released)."""
        batch = len(queries)
        totals = np.zeros(batch)
        squares = np.zeros(batch)
        top_keys = np.full((batch, MOST_SIMILAR_KEPT), -1, dtype=np.int64)
        top_values = np.zeros((batch, MOST_SIMILAR_KEPT))
        counts = np.zeros(batch, dtype=np.int64)
        seed_values = np.zeros(batch)
        seed_keys = np.full(batch, -1, dtype=np.int64)
        p = prepared
        scan(p.tokens, p.starts, p.lengths, p.slots, p.masks, p.full, p.sizes, p.tables,
             p.width, chosen, lo, hi, self._seeds, totals, squares, top_keys, top_values,
             counts, seed_values, seed_keys)
        rows = []
        for j, query in enumerate(queries):
            row = _Row(query, None)
            row.total = float(totals[j])
            row.squares = float(squares[j])
            row.keys = top_keys[j, :counts[j]].copy()
            row.values = top_values[j, :counts[j]].copy()
            if seed_keys[j] >= 0:
                row.seed = (float(seed_values[j]), int(seed_keys[j]))
            rows.append(row)
        return rows

    async def _cdist(self, queries: Sequence[Query]) -> list[Neighbours]:
        """One rapidfuzz pass, its chunks shared out among the scanning threads (the F tables
        too: 64 of them were tens of ms of numpy on the loop)."""
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

    def _sampled(self, query: Query) -> bool:
        """Whether `query` gets estimated fields: sampling on, more generated instructions
        than the sample, none discarded."""
        return 0 < self.sample < query.size - self._seeds and query.dead is None

    def _estimates(self, queries: Sequence[Query]) -> list[Neighbours]:
        return [self.estimate(query) for query in queries]

    def estimate(self, query: Query) -> Neighbours:
        """Estimated fields (`--fields sample`): the query against every seed and against
        `sample` generated instructions drawn at random without replacement (the draw seeded
        by the candidate and its pool size: the same query, the same draw).

        Exact: `most_similar_seed`, and every score reported (each is a true ROUGE-L F).
        Estimated: the mean, as the seeds' exact sum plus the generated instructions' count
        times the sample's mean, over the pool's size, with its standard error (finite
        population corrected); `most_similar`, the best 10 of the seeds and the sample only.
        """
        seeds, size = self._seeds, query.size
        generated = size - seeds
        draw = np.random.default_rng([zlib.crc32(query.seq.encode("utf-32-le")), size])
        chosen = np.sort(draw.choice(generated, self.sample, replace=False)).astype(np.int64)
        chosen += seeds
        if len(query.seq) <= WORD:
            prepared = self._prepare([query])
            (exact,) = self._scan_keys([query], prepared, 0, seeds)
            (part,) = self._scan_keys([query], prepared, 0, len(chosen), chosen)
        else:  # the rapidfuzz path: the seeds and the sample as the pool
            exact, part = self._estimate_long(query, chosen)
        count = len(chosen)
        mean = part.total / count
        spread = np.sqrt(max(part.squares - count * mean * mean, 0.0) / max(count - 1, 1))
        stderr = (generated / size) * spread / np.sqrt(count) * np.sqrt(1 - count / generated)
        exact.total += generated * mean
        exact.keep(part.keys, part.values)
        fields = self._fields(exact)
        return Neighbours(fields.most_similar, fields.avg_similarity_score,
                          fields.most_similar_seed, sample=count, stderr=float(stderr))

    def _estimate_long(self, query: Query, chosen: NDArray[np.int64]) -> tuple[_Row, _Row]:
        """`estimate`'s two rows for a candidate over 64 tokens (rapidfuzz)."""
        seeds, m = self._seeds, len(query.seq)
        keys = np.concatenate([np.arange(seeds, dtype=np.int64), chosen])
        lcs = process.cdist([query.seq], [self._seqs[key] for key in keys.tolist()],
                            scorer=_LCS_LENGTH, dtype=np.int32, workers=1)[0]
        scores = f_measures(lcs.astype(np.float64), m, self._lengths[keys].astype(np.float64))
        exact, part = _Row(query, None), _Row(query, None)
        if seeds:
            best = int(np.argmax(scores[:seeds]))
            exact.seed = (float(scores[best]), best)
        exact.total = float(scores[:seeds].sum())
        part.total = float(scores[seeds:].sum())
        part.squares = float((scores[seeds:] ** 2).sum())
        order = np.lexsort((keys, -scores))[:MOST_SIMILAR_KEPT]
        exact.keys, exact.values = keys[order], scores[order]
        return exact, part

    def neighbours(self, query: Query) -> Neighbours:
        """The similarity fields of one query, in this thread (tests, benchmarks), as a pass
        would score it."""
        if self._sampled(query):
            return self.estimate(query)
        if query.dead is None and len(query.seq) <= WORD:
            return self._merged([self._scan_keys([query], self._prepare([query]), 0,
                                                 query.size)])[0]
        rows, width = self._rows([query])
        self._scan(rows, width, range(0, query.size, CHUNK))
        return self._fields(rows[0])

    def _rows(self, queries: Sequence[Query], *, full: bool = False) -> tuple[list[_Row], int]:
        """Each query's F table by (L, n), with rouge-score's float operations in order (every
        one when `full`, else those of at most _TABLE_MAX cells)."""
        width = self._longest + 1
        n = np.arange(width, dtype=np.float64)
        rows = []
        for query in queries:
            m = len(query.seq)
            table = None
            if full or (m + 1) * width <= _TABLE_MAX:
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
