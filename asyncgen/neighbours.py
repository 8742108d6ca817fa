"""A task's similarity fields, with the released meaning: scored against the whole pool.

The released bootstrap_instructions.py scores each new instruction against every instruction in
the pool (seeds and generated) and records `most_similar` (the 10 best, with their ROUGE-L F)
and `avg_similarity_score` (the mean over the pool). `most_similar_seed` adds the quantity of
the paper's Figure 4: the best score against a seed instruction.

Admission does not need these (it stops at the first instruction above the threshold, in
`asyncgen.similarity`); they need every score. `PoolScores` keeps each pool instruction as a
token-coded string (one character per token, as `RougeLIndex` does), so rapidfuzz's C++
`process.cdist` with `LCSseq` gives every LCS length in one call and numpy the F-measures, with
rouge-score's float operations in its order (the same bits). `score` runs that in a worker
thread, one at a time, while the task is being classified; `Pending` carries the result to the
commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import numpy as np
from numpy.typing import NDArray
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from asyncgen.similarity import _UNKNOWN, _char, tokenize

__all__ = ["MOST_SIMILAR_KEPT", "Neighbours", "Pending", "PoolScores", "Query"]

MOST_SIMILAR_KEPT = 10  # released: the 10 most similar pool instructions
_LCS_LENGTH: Any = LCSseq.similarity  # an integer scorer; rapidfuzz's stubs say float


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


class PoolScores:
    """Every pool instruction as a token-coded string; the event loop's thread adds and
    discards, `neighbours` reads only the entries a `Query` covers (safe in another thread)."""

    __slots__ = ("_codes", "_dead", "_lengths", "_limiter", "_seeds", "_seqs", "_size",
                 "_texts", "_discarded")

    def __init__(self, seeds: Sequence[str] = ()) -> None:
        self._codes: dict[str, str] = {}  # token -> its character
        self._seqs: list[str] = []  # key -> token-coded string
        self._texts: list[str] = []  # key -> instruction
        self._lengths: NDArray[np.int64] = np.zeros(1024, dtype=np.int64)  # key -> tokens
        self._dead: NDArray[np.bool_] = np.zeros(1024, dtype=np.bool_)  # key -> discarded
        self._discarded = 0
        self._size = 0
        self._limiter = anyio.CapacityLimiter(1)  # one scoring thread: a core for the loop
        for text in seeds:
            self.add(text)
        self._seeds = len(seeds)

    def __len__(self) -> int:
        return self._size - self._discarded

    def add(self, text: str) -> int:
        """Add a pool instruction; keys count up from 0, in the order of `add`."""
        codes = self._codes
        seq = "".join([codes.get(t) or codes.setdefault(t, _char(len(codes) + 1))
                       for t in tokenize(text)])
        key = self._size
        if key == len(self._lengths):  # grow by copying: a Query's arrays stay as they were
            self._lengths = np.concatenate([self._lengths, np.zeros_like(self._lengths)])
            self._dead = np.concatenate([self._dead, np.zeros_like(self._dead)])
        self._lengths[key] = len(seq)
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
        codes = self._codes
        seq = "".join([codes.get(token, _UNKNOWN) for token in tokenize(text)])
        dead = self._dead[: self._size].copy() if self._discarded else None
        return Query(seq, self._size, dead)

    def neighbours(self, query: Query) -> Neighbours:
        """The similarity fields: every score exact, as rouge-score's (candidate as target)."""
        n = query.size
        live = n - (int(query.dead.sum()) if query.dead is not None else 0)
        if not query.seq or not live:
            return self._fields(query, np.zeros(n))
        lcs = process.cdist([query.seq], self._seqs[:n], scorer=_LCS_LENGTH,
                            dtype=np.int32, workers=1)[0].astype(np.float64)
        lengths = self._lengths[:n]
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = lcs / lengths  # the pool instruction is the prediction
            recall = lcs / len(query.seq)
            total = precision + recall
            scores = np.where(total > 0, 2 * precision * recall / total, 0.0)
        scores[lengths == 0] = 0.0
        return self._fields(query, scores)

    def _fields(self, query: Query, scores: NDArray[np.float64]) -> Neighbours:
        ranked = scores if query.dead is None else np.where(query.dead, -1.0, scores)
        live = int((ranked >= 0).sum())
        if not live:
            return Neighbours()
        k = min(MOST_SIMILAR_KEPT, live)
        kth = np.partition(ranked, len(ranked) - k)[len(ranked) - k]
        above = np.flatnonzero(ranked > kth)
        ties = np.flatnonzero(ranked == kth)[: k - len(above)]  # lowest keys first
        chosen = np.concatenate([above, ties])
        chosen = chosen[np.lexsort((chosen, -ranked[chosen]))]
        texts = self._texts
        most_similar: dict[str, float] = {}
        for key in chosen.tolist():
            most_similar.setdefault(texts[key], float(ranked[key]))
        seeds = ranked[: self._seeds]
        best_seed: dict[str, float] = {}
        if len(seeds):
            key = int(np.argmax(seeds))
            best_seed = {texts[key]: float(seeds[key])}
        mean = float(ranked[ranked >= 0].mean())
        return Neighbours(most_similar, mean, best_seed)

    async def score(self, query: Query, pending: Pending) -> None:
        """Compute `query`'s fields in a worker thread and hand them to `pending`."""
        pending.set(await anyio.to_thread.run_sync(self.neighbours, query,
                                                   limiter=self._limiter))


class Pending:
    """A task's neighbours while they are computed; awaited when the task is committed."""

    __slots__ = ("_done", "_value")

    def __init__(self, value: Neighbours | None = None) -> None:
        self._done = anyio.Event()
        self._value = value
        if value is not None:
            self._done.set()

    def set(self, value: Neighbours) -> None:
        self._value = value
        self._done.set()

    async def get(self) -> Neighbours:
        await self._done.wait()
        assert self._value is not None
        return self._value
