"""The exact ROUGE-L novelty index over the instruction pool.

Self-Instruct admits a candidate instruction only when its ROUGE-L F-measure against every
instruction in the pool is at most 0.7. `RougeLIndex` answers that, and "which pool
instructions score at least x", with the numbers that

    RougeScorer(["rougeL"], use_stemmer=False).score(candidate, instruction)["rougeL"].fmeasure

gives (the released Self-Instruct and Alpaca scripts pass the candidate as the target),
bit for bit, without scoring the whole pool:

1. Each token becomes one character, so an instruction is a short string, and a bit-parallel
   LCS gives the exact longest-common-subsequence length L in machine code (`asyncgen.novelty.lcs`
   for candidates of up to 64 tokens, rapidfuzz's `LCSseq` for longer ones).
2. For m candidate tokens and n pool tokens, `min_lcs` is the least L that passes the
   threshold; L never exceeds how many tokens the two share, so a pool instruction that
   shares fewer cannot pass.
3. Prefix filtering, as in set-similarity joins, with the ℓ-prefix scheme: every
   instruction is indexed under only its rarest few tokens, the candidate probes only its own
   rarest few, and every instruction that shares enough tokens to pass shares at least ℓ of
   them within both prefixes (`RougeLIndex._survivors`). The postings are flat sorted numpy
   arrays in segments (`asyncgen.novelty.postings`), keyed by token, length and position, so each
   (token, length, position bound) a candidate can pass through is one slice found by
   binary search; a compiled pass over those slices counts the ranges holding each string
   (`asyncgen.novelty.postings.Tally`); survivors are scored exactly in one compiled pass over
   their code points (`novelty.lcs.Strings`), those sharing the most probed elements first. Below
   `min_threshold` the index does not apply, and a query scores every instruction of a
   feasible length instead (in C++, on every core, but linear).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from asyncgen.novelty.lcs import MAX_TOKENS, Strings
from asyncgen.novelty.postings import (
    MAX_INDEXED,
    Order,
    Segment,
    Tally,
    build_segment,
    elements,
    lookup_keys,
)
from asyncgen.novelty.prefix import (
    GUESSES,
    Phase,
    Plan,
    passes,
    plan_query,
    prefix_table,
)
from asyncgen.novelty.rouge import (
    Vocabulary,
    VocabularyFull,
    f_measure,
    f_measures,
    rouge_l,
    tokenize,
)

__all__ = ["DEFAULT_MIN_THRESHOLD", "DEFAULT_THRESHOLD", "RougeLIndex", "VocabularyFull",
           "f_measure", "f_measures", "rouge_l", "tokenize"]

DEFAULT_THRESHOLD = 0.7  # the paper's diversity rule: reject when ROUGE-L > 0.7
DEFAULT_MIN_THRESHOLD = 0.5  # the least threshold (or floor) the prefix index serves
_FRESH = 256  # strings added one by one are scored by scan until this many form a segment
_GROWTH = 8  # a segment merges with the next newer one while at most this times its size
_INLINE = 1024  # merges of up to this many strings run on the caller's thread (~0.8 ms CPU)
_PARALLEL_AT = 20_000  # choices from which a cdist call uses every core
_FIRST_CHUNK, _CHUNK_GROWTH = 32, 4  # survivors per rapidfuzz call: 32, then 4x as many...
_SCAN_CHUNK = 50_000  # ... up to this many, which is also the chunk of a full scan
_STEP = 1 << 15  # entries per C-level loop over many strings (a few ms holding the GIL)


# rapidfuzz's stubs type process.extract's scorer as float-valued; LCSseq.similarity is an
# exact integer scorer, which extract accepts at run time.
_LCS_LENGTH: Any = LCSseq.similarity


class _Column:
    """A growable numpy array indexed by string id."""

    __slots__ = ("data", "size")

    def __init__(self, dtype: type) -> None:
        self.data: npt.NDArray[Any] = np.zeros(1024, dtype=dtype)
        self.size = 0

    def append(self, value: Any) -> None:
        if self.size == len(self.data):
            self.grow(self.size + 1)
        self.data[self.size] = value
        self.size += 1

    def extend(self, values: npt.NDArray[Any]) -> None:
        self.grow(self.size + len(values))
        self.data[self.size:self.size + len(values)] = values
        self.size += len(values)

    def grow(self, size: int) -> None:
        """Make room for `size` entries (capacity doubles)."""
        if size > len(self.data):
            data = np.zeros(max(size, 2 * len(self.data)), dtype=self.data.dtype)
            data[:self.size] = self.data[:self.size]
            self.data = data


class _Build:
    """A segment being built in a background thread from segments that stay queryable."""

    __slots__ = ("sources", "generation", "result", "error", "done", "thread")

    def __init__(self, sources: tuple[Segment, ...], generation: int) -> None:
        self.sources, self.generation = sources, generation
        self.result: Segment | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.thread: threading.Thread | None = None

    def run(self, sids: npt.NDArray[np.int32], seqs: list[str],
            frequency: npt.NDArray[np.int64], prefix: npt.NDArray[np.int64]) -> None:
        """Build under an order re-ranked from `frequency` (the thread's body)."""
        try:
            self.result = build_segment(sids, seqs, Order.by_frequency(frequency), prefix)
        except BaseException as exc:  # handed to the event loop by RougeLIndex._collect
            self.error = exc
        finally:
            self.done.set()


def _check_threshold(name: str, value: float) -> float:
    """Fail fast on a threshold outside [0, 1]."""
    value = float(value)
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}")
    return value


class RougeLIndex:
    """Pool instructions indexed for exact ROUGE-L queries (see the module docstring).

    `add` hands out integer keys, never reused. Queries with a threshold (or floor) of at
    least `min_threshold` use the prefix index; lower ones score the whole pool. Each
    distinct token string gets a string id (sid). The pool only grows: nothing is removed.

    Where a string is: the newest few (`_fresh`) are scored by scan; every `_FRESH` of them
    become a segment; a segment merges with the next newer one while it is at most
    `_GROWTH` times its size, so there are O(log n) segments. Merges of more than `_INLINE`
    strings run in one background thread (re-ranking tokens on the way), and the sources
    stay queryable until the merged segment replaces them; `add_many` rebuilds everything
    at once (a restore).
    """

    __slots__ = ("_build", "_by_length", "_fresh", "_fresh_limit",
                 "_generation", "_inline_limit", "_keys", "_lengths", "_min_threshold",
                 "_order", "_segments", "_seqs", "_sid", "_sid_seqs", "_size", "_strings", "_tally",
                 "_texts", "_unindexed", "_unsegmented", "_vocabulary", "_width")

    def __init__(self, *, min_threshold: float = DEFAULT_MIN_THRESHOLD) -> None:
        if not 0.0 < float(min_threshold) <= 1.0:
            raise ValueError(f"min_threshold must be in (0, 1], got {min_threshold!r}")
        self._min_threshold = float(min_threshold)
        self._vocabulary = Vocabulary()
        self._texts: list[str] = []  # key -> instruction text
        self._seqs: list[str] = []  # key -> its token string
        self._keys: dict[str, list[int]] = {}  # token string -> keys that have it
        self._sid: dict[str, int] = {}  # token string -> its string id
        # string id -> token string: a list, as a numpy object column would copy (and touch)
        # every string when it doubles, tens of ms on the loop at a million strings
        self._sid_seqs: list[str] = []
        self._strings = Strings()  # string id -> token string, flat, for the LCS kernel
        self._lengths = _Column(np.int32)  # string id -> token count
        self._segments: list[Segment] = []  # oldest (largest) first
        self._fresh: list[int] = []  # string ids in no segment yet, scored by scan
        self._unindexed: list[int] = []  # string ids too long to index, scored by scan
        # both as one array, and their lengths: made by the first query after either changes
        self._unsegmented: tuple[npt.NDArray[np.intp], npt.NDArray[np.int32]] | None = None
        self._order = Order(np.zeros(0, dtype=np.int32))  # for segments built on the loop
        self._build: _Build | None = None  # the background merge, if one runs
        self._generation = 0  # add_many bumps it: a background merge begun before is void
        self._fresh_limit, self._inline_limit = _FRESH, _INLINE
        self._by_length: dict[int, int] = {}  # length n -> distinct strings
        self._width = 1  # every indexed length is below this (a power of two)
        self._size = 0
        self._tally = Tally()  # a query's counts of probed strings (one query at a time)

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[int]:
        """Keys, oldest first."""
        return iter(range(len(self._seqs)))

    def __repr__(self) -> str:
        lengths = (f"{min(self._by_length)}..{max(self._by_length)}" if self._by_length
                   else "none")
        segments = "+".join(str(len(segment)) for segment in self._segments) or "0"
        return (f"<RougeLIndex instructions={self._size} distinct={len(self._keys)}"
                f" keys_issued={len(self._seqs)} vocabulary={len(self._vocabulary)}"
                f" lengths={lengths} min_threshold={self._min_threshold}"
                f" segments={segments} fresh={len(self._fresh)}"
                f" building={'yes' if self._build else 'no'}>")

    def add(self, text: str) -> int:
        """Add a pool instruction; return its key."""
        seq = self._vocabulary.encode_new(tokenize(text))
        key = self._new_key(text, seq)
        keys = self._keys.get(seq)
        if keys is not None:
            keys.append(key)
            return key
        self._keys[seq] = [key]
        self._vocabulary.hold(seq)
        self._register([seq])
        self._collect()
        if len(self._fresh) >= self._fresh_limit:
            self._seal()
        return key

    def add_many(self, texts: Iterable[str]) -> list[int]:
        """Add many pool instructions at once (a restore): rank tokens by how many of them
        hold each, then build every string into one segment, in numpy. Returns their keys."""
        keys = []
        new: list[str] = []
        encode, hold = self._vocabulary.encode_new, self._vocabulary.hold
        for text in texts:
            seq = encode(tokenize(text))
            key = self._new_key(text, seq)
            keys.append(key)
            same = self._keys.get(seq)
            if same is None:
                self._keys[seq] = [key]
                hold(seq)
                new.append(seq)
            else:
                same.append(key)
        for start in range(0, len(new), _STEP):  # C loops of 1M entries held the GIL 0.26 s
            self._register(new[start:start + _STEP])
        self._rebuild()
        return keys

    def text(self, key: int) -> str:
        """The instruction added under `key` (KeyError for a key never issued)."""
        self._check_key(key)
        return self._texts[key]

    def is_novel(self, text: str, threshold: float = DEFAULT_THRESHOLD) -> bool:
        """True when every pool instruction scores <= threshold against `text`."""
        return self.refusal(text, threshold) is None

    def refusal(self, text: str, threshold: float = DEFAULT_THRESHOLD) -> str | None:
        """None when `is_novel`; else why not: "duplicate" when `holds(text)`, else
        "similar" (one tokenization for both answers)."""
        threshold = _check_threshold("threshold", threshold)
        seq = self._vocabulary.encode(tokenize(text))
        m = len(seq)
        if m and seq in self._keys and f_measure(m, m, m) > threshold:
            pass  # a verbatim repeat (after tokenization) scores 1.0
        elif next(self._matches(seq, threshold, strict=True, first=True), None) is None:
            return None
        return "duplicate" if self._holds(text, seq) else "similar"

    def holds(self, text: str) -> bool:
        """True when `text` (surrounding whitespace aside) was added verbatim."""
        return self._holds(text, self._vocabulary.encode(tokenize(text)))

    def _holds(self, text: str, seq: str) -> bool:
        """`holds`, given the text's token string."""
        stripped = text.strip()
        return any(self._texts[key].strip() == stripped for key in self._keys.get(seq, ()))

    def similar(self, text: str, floor: float) -> list[tuple[int, float]]:
        """Every pool instruction scoring >= floor, as (key, score): best first, then by key."""
        floor = _check_threshold("floor", floor)
        seq = self._vocabulary.encode(tokenize(text))
        found = [(key, score) for string, score in self._matches(seq, floor, strict=False)
                 for key in self._keys[string]]
        found.sort(key=lambda item: (-item[1], item[0]))
        return found

    def _matches(self, seq: str, threshold: float, strict: bool,
                 first: bool = False) -> Iterator[tuple[str, float]]:
        """Yield (token string, score) for every distinct pool token string that passes:
        lengths near the candidate's first, where a near-duplicate most likely is, then the
        strings in no segment, then the other lengths; within each, the strings that share
        the most probed elements with the candidate first. `first` (for a first match
        only: it may yield a string twice) first scores a few `GUESSES`: cheap to find,
        and most paraphrases are among them."""
        self._collect()
        if not self._by_length:
            return
        plan = plan_query(len(seq), threshold, strict, self._width)
        if threshold < self._min_threshold:  # score every string of a feasible length
            lengths = self._lengths.data[:self._lengths.size]
            yield from self._score(seq, plan, np.flatnonzero(plan.need[lengths] >= 0),
                                   threshold, strict, _SCAN_CHUNK)
            return
        elements_by_order: dict[Order, npt.NDArray[np.int64]] = {}
        near, far = plan.phases
        tally = self._tally
        query = tally.start(len(self._sid_seqs))
        if first:  # the guesses' counts are the near phase's first: found once, counted twice
            self._probe(seq, plan, plan.guess, plan.guess.least, elements_by_order)
            yield from self._score(seq, plan, self._survivors(plan.guess, last=False)[:GUESSES],
                                   threshold, strict, first=True)
            if tally.starts != query:  # is_novel and similar never interleave queries
                raise RuntimeError("another query counted in the index's tally meanwhile")
            self._probe(seq, plan, plan.rest, near.least, elements_by_order)
        else:
            self._probe(seq, plan, near, near.least, elements_by_order)
        yield from self._score(seq, plan, self._survivors(near), threshold, strict, first=first)
        if self._unsegmented is None:
            unsegmented = np.array(self._fresh + self._unindexed, dtype=np.intp)
            self._unsegmented = unsegmented, self._lengths.data[unsegmented]
        unsegmented, lengths = self._unsegmented
        if len(unsegmented):
            yield from self._score(seq, plan, unsegmented[plan.need[lengths] > 0],
                                   threshold, strict, first=first)
        tally.start(len(self._sid_seqs))
        self._probe(seq, plan, far, far.least, elements_by_order)
        yield from self._score(seq, plan, self._survivors(far), threshold, strict, first=first)

    def _score(self, seq: str, plan: Plan, sids: npt.NDArray[np.integer[Any]],
               threshold: float, strict: bool, chunk: int = _FIRST_CHUNK,
               first: bool = False) -> Iterator[tuple[str, float]]:
        """Score candidate strings exactly and yield those that pass (`first`: the first
        one, when there is one). A candidate of up to `MAX_TOKENS` tokens is scored against
        the prefix filter's survivors by the compiled kernel (`Strings.verify`), in one
        call; a longer one, or a full scan, a chunk per rapidfuzz call, each chunk
        `_CHUNK_GROWTH` times the last up to `_SCAN_CHUNK` (so `is_novel` stops at the first
        chunk with a match, and pays few calls when there is none)."""
        m = len(seq)
        lengths, seqs = self._lengths.data, self._sid_seqs
        if 0 < m <= MAX_TOKENS and chunk < _SCAN_CHUNK:
            found, lcs_found = self._strings.verify(
                seq, np.asarray(sids, dtype=np.int32), lengths, plan.need, first)
            for at, lcs in zip(found.tolist(), lcs_found.tolist(), strict=True):
                choice = seqs[int(sids[at])]
                score = f_measure(lcs, m, len(choice))
                if passes(score, threshold, strict):  # always, by min_lcs; kept as a guard
                    yield choice, score
            return
        start = 0
        while start < len(sids):
            part = sids[start:start + chunk]
            start += chunk
            chunk = min(chunk * _CHUNK_GROWTH, _SCAN_CHUNK)
            choices = list(map(seqs.__getitem__, part.tolist()))
            needs = plan.need[lengths[part]]
            # the cutoff lets rapidfuzz give up early on a pair that cannot reach it
            lcs = process.cdist([seq], choices, scorer=_LCS_LENGTH, dtype=np.int32,
                                score_cutoff=max(int(needs.min()), 0),
                                workers=-1 if len(choices) >= _PARALLEL_AT else 1)[0]
            for at in np.flatnonzero(lcs >= needs).tolist():
                choice = choices[at]
                score = f_measure(int(lcs[at]), m, len(choice))
                if passes(score, threshold, strict):  # always, by min_lcs; kept as a guard
                    yield choice, score

    def _probe(self, seq: str, plan: Plan, phase: Phase, least: int,
               elements_by_order: dict[Order, npt.NDArray[np.int64]]) -> None:
        """Count the strings of the phase's ranges, in every segment, in the tally (noting
        those counted `least` times). Each segment has its own order, so the candidate's
        elements are taken once per order; a string is in one segment only."""
        if len(phase.positions):
            ranges: dict[Order, tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = {}
            for segment in self._segments:
                order = segment.order
                found = ranges.get(order)
                if found is None:  # segments built under one order share their ranges
                    ids = elements_by_order.get(order)
                    if ids is None:
                        ids = elements_by_order[order] = elements(seq, order, plan.probe)
                    found = ranges[order] = lookup_keys(ids[phase.positions], phase.lengths,
                                                        phase.bounds)
                self._tally.add(segment, *found, least)

    def _survivors(self, phase: Phase, last: bool = True) -> npt.NDArray[np.int32]:
        """Live string ids counted (`_probe`) at least ℓ times, i.e. that share at least ℓ
        elements with the candidate within both prefixes; those sharing the most first
        (`last`: the last of the tally's count, see `Tally.survivors`).

        A pair passes only with LCS >= need = t, and LCS is at most their multiset overlap.
        Write both token lists as elements (token, i-th occurrence) in one fixed order; if
        they share >= t elements, their first ℓ shared ones (ℓ <= t) lie within the first
        m - t + ℓ elements of the candidate and the first n - t + ℓ of the pool string (at
        most m - t, resp. n - t, unshared elements come before them). So probing the
        candidate's first m - t + ℓ elements for entries of length-n strings at positions
        below n - t + ℓ (the phase's ranges), then keeping strings found ℓ times, keeps
        every string that can pass.
        """
        sids, counts = self._tally.survivors(phase.least, last)
        if not phase.varied:  # every string found `least` times is found often enough
            return sids
        most_first: npt.NDArray[np.int32] = sids[counts >= phase.shared[self._lengths.data[sids]]]
        return most_first

    def _new_key(self, text: str, seq: str) -> int:
        """Issue the next key for a text and its token string."""
        key = len(self._seqs)
        self._texts.append(text)
        self._seqs.append(seq)
        self._size += 1
        return key

    def _register(self, seqs: list[str]) -> None:
        """Give new distinct token strings ids; the short enough ones join `_fresh`."""
        if not seqs:
            return
        self._unsegmented = None
        first = len(self._sid_seqs)
        self._sid.update(zip(seqs, range(first, first + len(seqs)), strict=True))
        self._sid_seqs.extend(seqs)
        self._strings.extend(seqs)
        lengths = np.fromiter(map(len, seqs), dtype=np.int32, count=len(seqs))
        self._lengths.extend(lengths)
        for n, count in enumerate(np.bincount(lengths).tolist()):
            if count:
                self._by_length[n] = self._by_length.get(n, 0) + count
        top = int(lengths.max())
        while top >= self._width:
            self._width *= 2
        sids = range(first, first + len(seqs))
        if len(seqs) == 1:
            n = int(lengths[0])
            if 0 < n < MAX_INDEXED:
                self._fresh.append(first)
            elif n:
                self._unindexed.append(first)
        else:
            self._fresh.extend(sid for sid, n in zip(sids, lengths.tolist(), strict=True)
                               if 0 < n < MAX_INDEXED)
            self._unindexed.extend(sid for sid, n in zip(sids, lengths.tolist(), strict=True)
                                   if n >= MAX_INDEXED)

    def _seqs_of(self, sids: npt.NDArray[np.int32]) -> list[str]:
        """The token strings of these ids, `_STEP` at a time (the GIL changes hands between)."""
        seqs: list[str] = []
        for start in range(0, len(sids), _STEP):
            seqs += map(self._sid_seqs.__getitem__, sids[start:start + _STEP].tolist())
        return seqs

    def _build_now(self, sids: npt.NDArray[np.int32]) -> Segment:
        """A segment of these strings, built here under the current order."""
        return build_segment(sids, self._seqs_of(sids), self._order,
                             prefix_table(min(self._width, MAX_INDEXED), self._min_threshold))

    def _seal(self) -> None:
        """Turn the fresh strings into a segment, then merge segments as `_rebalance` says."""
        sids = np.array(self._fresh, dtype=np.int32)
        self._fresh, self._unsegmented = [], None
        if len(sids):
            self._segments.append(self._build_now(sids))
        self._rebalance()

    def _rebalance(self) -> None:
        """Merge the newest adjacent pair of segments where the older is at most `_GROWTH`
        times the newer, until none is; small merges here, a large one in the background
        (with the segments piled up around the pair)."""
        segments = self._segments
        while True:
            busy = self._build.sources if self._build is not None else ()
            for at in range(len(segments) - 2, -1, -1):
                older, newer = segments[at], segments[at + 1]
                if (older not in busy and newer not in busy
                        and len(older) <= _GROWTH * len(newer)):
                    break
            else:
                return
            sids = np.concatenate([older.members, newer.members])
            if len(sids) <= self._inline_limit:
                segments[at:at + 2] = [self._build_now(sids)] if len(sids) else []
            elif self._build is None:
                # while a merge runs no merge past `_INLINE` starts, so small segments pile up
                # behind it (16 segments at a fast-growing 100K pool, each probed by every
                # query: 2.5x a query's CPU); the next merge takes every newer segment, and
                # older ones while each is at most `_GROWTH` times what is merged after it
                merged = sum(len(segment) for segment in segments[at:])
                while (at and segments[at - 1] not in busy
                       and len(segments[at - 1]) <= _GROWTH * merged):
                    at -= 1
                    merged += len(segments[at])
                sources = tuple(segments[at:])
                self._start_build(sources, np.concatenate([s.members for s in sources]))
            else:
                return

    def _start_build(self, sources: tuple[Segment, ...], sids: npt.NDArray[np.int32]) -> None:
        """Merge adjacent segments in a background thread, re-ranking tokens as it builds."""
        build = self._build = _Build(sources, self._generation)
        build.thread = threading.Thread(
            target=build.run, name="rouge-index-merge", daemon=True,
            args=(sids, self._seqs_of(sids),
                  self._vocabulary.frequency(),
                  prefix_table(min(self._width, MAX_INDEXED), self._min_threshold)))
        build.thread.start()

    def _collect(self, wait: bool = False) -> None:
        """Put a finished background merge in place of its sources (`wait`: finish it)."""
        build = self._build
        if build is None or not (build.done.wait() if wait else build.done.is_set()):
            return
        self._build = None
        if build.error is not None:
            raise build.error
        if build.generation != self._generation or build.result is None:
            return
        at = next(i for i, segment in enumerate(self._segments) if segment is build.sources[0])
        self._segments[at:at + len(build.sources)] = [build.result]
        self._order = build.result.order
        self._rebalance()

    def _rebuild(self) -> None:
        """Every indexable string into one segment, under a freshly ranked order."""
        self._generation += 1
        self._build = None
        self._order = Order.by_frequency(self._vocabulary.frequency())
        size = self._lengths.size
        lengths = self._lengths.data[:size]
        sids = np.flatnonzero((lengths > 0) & (lengths < MAX_INDEXED)).astype(np.int32)
        self._fresh, self._unsegmented = [], None
        self._segments = [self._build_now(sids)] if len(sids) else []

    def _check_key(self, key: int) -> None:
        """KeyError unless `key` was issued by `add`."""
        if not 0 <= key < len(self._seqs):
            raise KeyError(f"no instruction with key {key} in the index")
