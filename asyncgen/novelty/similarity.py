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
2. For m candidate tokens and n pool tokens, `_min_lcs` is the least L that passes the
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

import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from asyncgen.novelty.lcs import MAX_TOKENS, Strings
from asyncgen.novelty.postings import (
    MAX_INDEXED,
    UNKNOWN_CODE,
    Order,
    Segment,
    Tally,
    build_segment,
    elements,
    lookup_keys,
)

__all__ = ["DEFAULT_MIN_THRESHOLD", "DEFAULT_THRESHOLD", "RougeLIndex", "VocabularyFull",
           "f_measure", "f_measures", "rouge_l", "tokenize"]

DEFAULT_THRESHOLD = 0.7  # the paper's diversity rule: reject when ROUGE-L > 0.7
DEFAULT_MIN_THRESHOLD = 0.5  # the least threshold (or floor) the prefix index serves
_SHARED = 3  # ℓ: elements a passing pair shares within both prefixes (fewer survivors)
_FRESH = 256  # strings added one by one are scored by scan until this many form a segment
_GROWTH = 8  # a segment merges with the next newer one while at most this times its size
_INLINE = 1024  # merges of up to this many strings run on the caller's thread (~0.8 ms CPU)
_PARALLEL_AT = 20_000  # choices from which a cdist call uses every core
_FIRST_CHUNK, _CHUNK_GROWTH = 32, 4  # survivors per rapidfuzz call: 32, then 4x as many...
_SCAN_CHUNK = 50_000  # ... up to this many, which is also the chunk of a full scan
_STEP = 1 << 15  # entries per C-level loop over many strings (a few ms holding the GIL)

_NON_ALPHANUMERIC = re.compile(r"[^a-z0-9]+")  # rouge_score.tokenize.NON_ALPHANUM_RE
_UNKNOWN = chr(UNKNOWN_CODE)  # stands for every candidate token no pool instruction contains
_SURROGATES = range(0xD800, 0xE000)  # code points that cannot stand for a token
_CODE_POINTS = ord(_UNKNOWN) - 1 - len(_SURROGATES)  # characters available for tokens

# rapidfuzz's stubs type process.extract's scorer as float-valued; LCSseq.similarity is an
# exact integer scorer, which extract accepts at run time.
_LCS_LENGTH: Any = LCSseq.similarity


class VocabularyFull(RuntimeError):
    """The pool holds more distinct tokens than there are characters to encode them."""


def tokenize(text: str) -> list[str]:
    """rouge-score's tokenizer without stemming: lower-case, split on runs outside [a-z0-9]."""
    return _NON_ALPHANUMERIC.sub(" ", text.lower()).split()


def f_measure(lcs: int, target_len: int, prediction_len: int) -> float:
    """ROUGE-L F from an LCS length, with rouge-score's `_score_lcs` float arithmetic."""
    if target_len == 0 or prediction_len == 0:
        return 0.0
    precision = lcs / prediction_len
    recall = lcs / target_len
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


def f_measures(lcs: npt.NDArray[Any], target_len: npt.NDArray[Any] | int,
               prediction_len: npt.NDArray[Any] | int) -> npt.NDArray[np.float64]:
    """`f_measure` elementwise in numpy: the same IEEE operations in the same order, so the
    same floats."""
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = lcs / prediction_len
        recall = lcs / target_len
        total = precision + recall
        scores = np.where(total > 0, 2 * precision * recall / total, 0.0)
    degenerate = (np.asarray(target_len) == 0) | (np.asarray(prediction_len) == 0)
    scored: npt.NDArray[np.float64] = np.where(degenerate, 0.0, scores)
    return scored


def rouge_l(target: str, prediction: str) -> float:
    """ROUGE-L F-measure of two texts, equal to rouge-score's (argument order as its `score`)."""
    codes: dict[str, str] = {}
    a = "".join([codes.setdefault(t, chr(len(codes) + 1)) for t in tokenize(target)])
    b = "".join([codes.setdefault(t, chr(len(codes) + 1)) for t in tokenize(prediction)])
    return f_measure(LCSseq.similarity(a, b), len(a), len(b))


def _passes(score: float, threshold: float, strict: bool) -> bool:
    """`score > threshold` for the novelty rule, `score >= threshold` for `similar`."""
    return score > threshold if strict else score >= threshold


@lru_cache(maxsize=1 << 16)
def _min_lcs(m: int, n: int, threshold: float, strict: bool) -> int:
    """Least LCS length whose score passes between m and n tokens, or -1 if none does.

    The computed score is strictly increasing in L, so a binary search is exact: each of
    its IEEE operations is correctly rounded (relative error <= 2**-53), so the float is
    within 1e-15 (relative) of 2L/(m+n), and 2(L+1)/(m+n) exceeds 2L/(m+n) by the factor
    (L+1)/L, far more than 1 + 2e-15 for any instruction length.
    """
    hi = min(m, n)
    if not _passes(f_measure(hi, m, n), threshold, strict):
        return -1
    lo = 0
    while lo < hi:
        mid = (lo + hi) // 2
        if _passes(f_measure(mid, m, n), threshold, strict):
            hi = mid
        else:
            lo = mid + 1
    return lo


_WINDOW = 3  # LCS lengths tried around the exact least one's estimate (it is within ±1)


def _least_lcs(m: npt.NDArray[np.int64], n: npt.NDArray[np.int64], threshold: float,
               strict: bool) -> npt.NDArray[np.int64]:
    """`_min_lcs` elementwise over arrays of lengths, in numpy (the same IEEE operations in
    the same order as `f_measure`, so the same floats): scores rise with L, and the least
    passing L is within one of ceil(threshold (m + n) / 2), so a few L around that estimate
    find it; one that passes with its predecessor failing is the least. Where that check
    does not hold (never seen), the binary search answers."""
    m, n = np.broadcast_arrays(np.asarray(m, dtype=np.int64), np.asarray(n, dtype=np.int64))
    m_float, n_float = m.astype(np.float64), n.astype(np.float64)

    def passes(lcs: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        score = f_measures(lcs, m_float, n_float)
        passed: npt.NDArray[np.bool_] = score > threshold if strict else score >= threshold
        return passed

    top = np.minimum(m, n)
    estimate = np.ceil(threshold * (m_float + n_float) / 2).astype(np.int64)
    first = np.clip(estimate - 1, 0, top)
    least = np.full(m.shape, -1, dtype=np.int64)
    for step in range(_WINDOW):
        lcs = np.minimum(first + step, top)
        least = np.where((least < 0) & passes(lcs), lcs, least)
    found = least >= 0
    exact = np.where(found, (least == 0) | ~passes(np.maximum(least - 1, 0)), ~passes(top))
    for at in zip(*np.nonzero(~exact), strict=True):
        least[at] = _min_lcs(int(m[at]), int(n[at]), threshold, strict)
    return least


def _indexed_prefix(n: int, min_threshold: float) -> int:
    """How many of a length-n instruction's rarest elements the index holds.

    An instruction must be found by every query it can pass at `min_threshold` or above: a
    candidate of length m needing t common tokens probes the pool's first n - t + ℓ(t)
    elements, a number that only falls as t grows. t is least at the least feasible m (for
    a fixed LCS the score falls as m grows, and past m = n the LCS cap stops growing), so
    m = 1..n+1 covers every candidate length.
    """
    return int(_prefix_table(n + 1, min_threshold)[n])


_NEAR = 2  # lengths within this of the candidate's are probed (and scored) first
_GUESS_ELEMENTS, _GUESS_SHARED = 3, 2  # is_novel first scores strings of near lengths that
_GUESSES = 64  # hold 2 of the candidate's 3 rarest elements, this many at most, most first


@dataclass(frozen=True, slots=True)
class _Phase:
    """One range of pool lengths a candidate probes at once: near its own length first.

    Flat over every (candidate position i, pool length n) that can find a passing string:
    the entries of element i, length n, pool position below `bounds` are probed."""

    positions: npt.NDArray[np.int64]  # candidate position i
    lengths: npt.NDArray[np.int64]  # pool length n
    bounds: npt.NDArray[np.int64]  # pool positions below this can pass
    shared: npt.NDArray[np.int32]  # by pool length: elements a string must be found under
    least: int  # the least `shared` of `lengths`
    varied: bool  # not every one of `lengths` has `shared` equal to `least`


@dataclass(frozen=True, slots=True)
class _Plan:
    """How one candidate length probes the index, per pool length n (arrays indexed by n)."""

    need: npt.NDArray[np.int32]  # least passing LCS against length n, or -1
    phases: tuple[_Phase, _Phase]  # lengths near the candidate's, then all others
    guess: _Phase  # near lengths, rarest elements: where a paraphrase most likely is
    rest: _Phase  # the near phase's other elements (with `guess`'s, the near phase)
    probe: int  # candidate prefix length: positions >= probe find nothing


def _phase(bounds: npt.NDArray[np.int32], shared: npt.NDArray[np.int32], low: int, high: int,
           inside: bool) -> _Phase:
    """The part of a plan's bounds for pool lengths low <= n < high, or outside them."""
    keep = np.zeros(bounds.shape[1], dtype=np.bool_)
    keep[max(low, 0):max(high, 0)] = True
    bounds = np.where(keep if inside else ~keep, bounds, 0)
    positions, lengths = np.nonzero(bounds)
    return _part(positions.astype(np.int64), lengths.astype(np.int64),
                 bounds[positions, lengths].astype(np.int64), shared)


def _part(positions: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64],
          bounds: npt.NDArray[np.int64], shared: npt.NDArray[np.int32]) -> _Phase:
    """A phase of these ranges, asking for `shared[n]` hits of a length-n string."""
    found = np.unique(shared[lengths])
    return _Phase(positions=positions, lengths=lengths, bounds=bounds, shared=shared,
                  least=int(found[0]) if len(found) else _SHARED, varied=len(found) > 1)


@lru_cache(maxsize=1024)
def _plan(m: int, threshold: float, strict: bool, width: int) -> _Plan:
    """The probe plan of an m-token candidate against pool lengths below `width`."""
    need = _least_lcs(np.full(width, m, dtype=np.int64), np.arange(width, dtype=np.int64),
                      threshold, strict).astype(np.int32)
    shared = np.minimum(need, _SHARED).astype(np.int32)
    feasible = need > 0
    pool_limit = np.where(feasible, np.arange(width) - need + shared, 0).astype(np.int32)
    candidate_limit = np.where(feasible, m - need + shared, 0)
    probe = int(candidate_limit.max(initial=0))
    bounds = np.where(np.arange(probe)[:, None] < candidate_limit[None, :], pool_limit[None, :],
                      0).astype(np.int32)
    near = (m - _NEAR, m + _NEAR + 1)
    phases = (_phase(bounds, shared, *near, inside=True),
              _phase(bounds, shared, *near, inside=False))
    near_phase = phases[0]
    rarest = near_phase.positions < _GUESS_ELEMENTS
    guess, rest = (_part(near_phase.positions[which], near_phase.lengths[which],
                         near_phase.bounds[which], kept)
                   for which, kept in ((rarest, np.minimum(shared, _GUESS_SHARED)),
                                       (~rarest, shared)))
    return _Plan(need=need, phases=phases, guess=guess, rest=rest, probe=probe)


_TABLE_CELLS = 1 << 20  # (n, m) pairs per numpy pass of `_prefix_table`


@lru_cache(maxsize=64)
def _prefix_table(width: int, min_threshold: float) -> npt.NDArray[np.int64]:
    """`_indexed_prefix` for every length below `width`, in numpy: over every (n, m) with
    m = 1..n+1, a few rows of n at a time. (A Python loop over those pairs took 60 ms at a
    width of 256 and 630 ms at 1024, on the event loop when a longer instruction came.)"""
    table = np.zeros(width, dtype=np.int64)
    rows = max(1, _TABLE_CELLS // (width + 1))
    for low in range(1, width, rows):
        n = np.arange(low, min(low + rows, width), dtype=np.int64)[:, None]
        m = np.arange(1, int(n[-1, 0]) + 2, dtype=np.int64)[None, :]
        need = _least_lcs(m, n, min_threshold, False)
        sizes = np.where((need > 0) & (m <= n + 1), n - need + np.minimum(need, _SHARED), 0)
        table[low:low + len(n)] = sizes.max(axis=1)
    return table


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


def _char(number: int) -> str:
    """The character for the number-th token (1-based), skipping surrogates."""
    code = number + len(_SURROGATES) if number >= _SURROGATES.start else number
    if code >= ord(_UNKNOWN):
        raise VocabularyFull(f"the pool uses more than {_CODE_POINTS} distinct tokens")
    return chr(code)


class _Vocabulary:
    """Tokens of live pool instructions, each standing as one character."""

    __slots__ = ("_chars", "_codes", "_count", "_free", "_refs")

    def __init__(self) -> None:
        self._codes: dict[str, str] = {}  # token -> character
        self._chars: dict[str, str] = {}  # character -> token
        self._refs: dict[str, int] = {}  # character -> distinct live token strings with it
        self._free: list[str] = []  # characters of forgotten tokens, for reuse
        self._count = 0  # characters handed out so far

    def __len__(self) -> int:
        return len(self._codes)

    def encode(self, tokens: list[str]) -> str:
        """A candidate's token string; tokens new to the pool become _UNKNOWN."""
        codes = self._codes
        return "".join([codes.get(token, _UNKNOWN) for token in tokens])

    def encode_new(self, tokens: list[str]) -> str:
        """A pool instruction's token string, giving new tokens characters."""
        try:
            return "".join([self._codes.get(token) or self._new(token) for token in tokens])
        except VocabularyFull:
            for token in tokens:
                char = self._codes.get(token)
                if char is not None and not self._refs[char]:
                    self._forget(char)
            raise

    def hold(self, seq: str) -> None:
        """Count a distinct token string into the pool."""
        for char in set(seq):
            self._refs[char] += 1

    def release(self, seq: str) -> None:
        """Count a distinct token string out; forget tokens no string has any more."""
        for char in set(seq):
            self._refs[char] -= 1
            if not self._refs[char]:
                self._forget(char)

    def frequency(self) -> npt.NDArray[np.int64]:
        """How many distinct live token strings hold each code (indexed by code point)."""
        refs = self._refs
        codes = np.fromiter(map(ord, refs), dtype=np.int64, count=len(refs))
        counts = np.fromiter(refs.values(), dtype=np.int64, count=len(refs))
        frequency = np.zeros(int(codes.max(initial=0)) + 1, dtype=np.int64)
        frequency[codes] = counts
        return frequency

    def _new(self, token: str) -> str:
        """A character for a token new to the pool (it ranks as the rarest so far)."""
        if self._free:
            char = self._free.pop()
        else:
            char = _char(self._count + 1)
            self._count += 1
        self._codes[token], self._chars[char], self._refs[char] = char, token, 0
        return char

    def _forget(self, char: str) -> None:
        """Drop a token no live instruction has; its character may stand for another."""
        del self._refs[char], self._codes[self._chars.pop(char)]
        self._free.append(char)


class RougeLIndex:
    """Pool instructions indexed for exact ROUGE-L queries (see the module docstring).

    `add` hands out integer keys, never reused. Queries with a threshold (or floor) of at
    least `min_threshold` use the prefix index; lower ones score the whole pool. Each
    distinct token string gets a string id (sid); a discarded one is only marked dead until
    the segment holding it is rebuilt.

    Where a string is: the newest few (`_fresh`) are scored by scan; every `_FRESH` of them
    become a segment; a segment merges with the next newer one while it is at most
    `_GROWTH` times its size, so there are O(log n) segments. Merges of more than `_INLINE`
    strings run in one background thread (re-ranking tokens on the way), and the sources
    stay queryable until the merged segment replaces them; `add_many` rebuilds everything
    at once (a restore).
    """

    __slots__ = ("_alive", "_build", "_by_length", "_fresh", "_fresh_limit",
                 "_generation", "_inline_limit", "_keys", "_lengths", "_min_threshold",
                 "_order", "_segments", "_seqs", "_sid", "_sid_seqs", "_size", "_strings", "_tally",
                 "_texts", "_unindexed", "_vocabulary", "_width")

    def __init__(self, *, min_threshold: float = DEFAULT_MIN_THRESHOLD) -> None:
        if not 0.0 < float(min_threshold) <= 1.0:
            raise ValueError(f"min_threshold must be in (0, 1], got {min_threshold!r}")
        self._min_threshold = float(min_threshold)
        self._vocabulary = _Vocabulary()
        self._texts: list[str | None] = []  # key -> instruction text; None once discarded
        self._seqs: list[str | None] = []  # key -> its token string
        self._keys: dict[str, list[int]] = {}  # token string -> live keys that have it
        self._sid: dict[str, int] = {}  # live token string -> its string id
        # string id -> token string: a list, as a numpy object column would copy (and touch)
        # every string when it doubles, tens of ms on the loop at a million strings
        self._sid_seqs: list[str] = []
        self._strings = Strings()  # string id -> token string, flat, for the LCS kernel
        self._lengths = _Column(np.int32)  # string id -> token count
        self._alive = _Column(np.bool_)  # string id -> still in the pool
        self._segments: list[Segment] = []  # oldest (largest) first
        self._fresh: list[int] = []  # string ids in no segment yet, scored by scan
        self._unindexed: list[int] = []  # string ids too long to index, scored by scan
        self._order = Order(np.zeros(0, dtype=np.int32))  # for segments built on the loop
        self._build: _Build | None = None  # the background merge, if one runs
        self._generation = 0  # add_many bumps it: a background merge begun before is void
        self._fresh_limit, self._inline_limit = _FRESH, _INLINE
        self._by_length: dict[int, int] = {}  # length n -> live distinct strings
        self._width = 1  # every indexed length is below this (a power of two)
        self._size = 0
        self._tally = Tally()  # a query's counts of probed strings (one query at a time)

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[int]:
        """Live keys, oldest first."""
        return (key for key, seq in enumerate(self._seqs) if seq is not None)

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

    def discard(self, key: int) -> None:
        """Remove a pool instruction. Unlike `set.discard`, a key that is not in the index
        raises KeyError: the filter releases each admitted instruction at most once."""
        seq = self._live_seq(key)
        keys = self._keys[seq]
        keys.remove(key)
        if not keys:
            del self._keys[seq]
            sid = self._sid.pop(seq)
            self._alive.data[sid] = False
            n = len(seq)
            self._by_length[n] -= 1
            if not self._by_length[n]:
                del self._by_length[n]
            self._vocabulary.release(seq)
        self._texts[key] = self._seqs[key] = None
        self._size -= 1

    def text(self, key: int) -> str:
        """The instruction added under `key` (KeyError once discarded)."""
        self._live_seq(key)
        text = self._texts[key]
        assert text is not None
        return text

    def is_novel(self, text: str, threshold: float = DEFAULT_THRESHOLD) -> bool:
        """True when every pool instruction scores <= threshold against `text`."""
        threshold = _check_threshold("threshold", threshold)
        seq = self._vocabulary.encode(tokenize(text))
        m = len(seq)
        if m and seq in self._keys and f_measure(m, m, m) > threshold:
            return False  # a verbatim repeat (after tokenization) scores 1.0
        return next(self._matches(seq, threshold, strict=True, first=True), None) is None

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
        only: it may yield a string twice) first scores a few `_GUESSES`: cheap to find,
        and most paraphrases are among them."""
        self._collect()
        if not self._by_length:
            return
        plan = _plan(len(seq), threshold, strict, self._width)
        live = self._alive.data[:self._alive.size]
        if threshold < self._min_threshold:  # score every live string of a feasible length
            lengths = self._lengths.data[:self._lengths.size]
            yield from self._score(seq, plan, np.flatnonzero(live & (plan.need[lengths] >= 0)),
                                   threshold, strict, _SCAN_CHUNK)
            return
        elements_by_order: dict[Order, npt.NDArray[np.int64]] = {}
        near, far = plan.phases
        tally = self._tally
        query = tally.start(len(self._sid_seqs))
        if first:  # the guesses' counts are the near phase's first: found once, counted twice
            self._probe(seq, plan, plan.guess, plan.guess.least, elements_by_order)
            yield from self._score(seq, plan, self._survivors(plan.guess, last=False)[:_GUESSES],
                                   threshold, strict, first=True)
            if tally.starts != query:  # is_novel and similar never interleave queries
                raise RuntimeError("another query counted in the index's tally meanwhile")
            self._probe(seq, plan, plan.rest, near.least, elements_by_order)
        else:
            self._probe(seq, plan, near, near.least, elements_by_order)
        yield from self._score(seq, plan, self._survivors(near), threshold, strict, first=first)
        unsegmented = np.array(self._fresh + self._unindexed, dtype=np.intp)
        if len(unsegmented):
            lengths = self._lengths.data[unsegmented]
            yield from self._score(seq, plan, unsegmented[live[unsegmented]
                                                          & (plan.need[lengths] > 0)],
                                   threshold, strict, first=first)
        tally.start(len(self._sid_seqs))
        self._probe(seq, plan, far, far.least, elements_by_order)
        yield from self._score(seq, plan, self._survivors(far), threshold, strict, first=first)

    def _score(self, seq: str, plan: _Plan, sids: npt.NDArray[np.integer[Any]],
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
                if _passes(score, threshold, strict):  # always, by _min_lcs; kept as a guard
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
                if _passes(score, threshold, strict):  # always, by _min_lcs; kept as a guard
                    yield choice, score

    def _probe(self, seq: str, plan: _Plan, phase: _Phase, least: int,
               elements_by_order: dict[Order, npt.NDArray[np.int64]]) -> None:
        """Count the strings of the phase's ranges, in every segment, in the tally (noting
        those counted `least` times). Each segment has its own order, so the candidate's
        elements are taken once per order; a string is in one segment only."""
        if len(phase.positions):
            for segment in self._segments:
                order = segment.order
                ids = elements_by_order.get(order)
                if ids is None:
                    ids = elements_by_order[order] = elements(seq, order, plan.probe)
                self._tally.add(segment, *lookup_keys(ids[phase.positions], phase.lengths,
                                                      phase.bounds), least)

    def _survivors(self, phase: _Phase, last: bool = True) -> npt.NDArray[np.int32]:
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
        keep = self._alive.data[sids]
        if phase.varied:  # else every string found `least` times is found often enough
            keep &= counts >= phase.shared[self._lengths.data[sids]]
        most_first: npt.NDArray[np.int32] = sids[keep]
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
        first = len(self._sid_seqs)
        self._sid.update(zip(seqs, range(first, first + len(seqs)), strict=True))
        self._sid_seqs.extend(seqs)
        self._strings.extend(seqs)
        lengths = np.fromiter(map(len, seqs), dtype=np.int32, count=len(seqs))
        self._lengths.extend(lengths)
        self._alive.extend(np.ones(len(seqs), dtype=np.bool_))
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

    def _live(self, sids: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
        """The string ids among these still in the pool."""
        live: npt.NDArray[np.int32] = sids[self._alive.data[sids]]
        return live

    def _seqs_of(self, sids: npt.NDArray[np.int32]) -> list[str]:
        """The token strings of these ids, `_STEP` at a time (the GIL changes hands between)."""
        seqs: list[str] = []
        for start in range(0, len(sids), _STEP):
            seqs += map(self._sid_seqs.__getitem__, sids[start:start + _STEP].tolist())
        return seqs

    def _build_now(self, sids: npt.NDArray[np.int32]) -> Segment:
        """A segment of these strings, built here under the current order."""
        return build_segment(sids, self._seqs_of(sids), self._order,
                             _prefix_table(min(self._width, MAX_INDEXED), self._min_threshold))

    def _seal(self) -> None:
        """Turn the fresh strings into a segment, then merge segments as `_rebalance` says."""
        sids = self._live(np.array(self._fresh, dtype=np.int32))
        self._fresh = []
        if len(sids):
            self._segments.append(self._build_now(sids))
        self._rebalance()

    def _rebalance(self) -> None:
        """Merge the newest adjacent pair of segments where the older is at most `_GROWTH`
        times the newer, until none is; small merges here, a large one in the background."""
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
            sids = self._live(np.concatenate([older.members, newer.members]))
            if len(sids) <= self._inline_limit:
                segments[at:at + 2] = [self._build_now(sids)] if len(sids) else []
            elif self._build is None:
                self._start_build((older, newer), sids)
            else:
                return

    def _start_build(self, sources: tuple[Segment, ...], sids: npt.NDArray[np.int32]) -> None:
        """Merge adjacent segments in a background thread, re-ranking tokens as it builds."""
        build = self._build = _Build(sources, self._generation)
        build.thread = threading.Thread(
            target=build.run, name="rouge-index-merge", daemon=True,
            args=(sids, self._seqs_of(sids),
                  self._vocabulary.frequency(),
                  _prefix_table(min(self._width, MAX_INDEXED), self._min_threshold)))
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
        """Every live indexable string into one segment, under a freshly ranked order."""
        self._generation += 1
        self._build = None
        self._order = Order.by_frequency(self._vocabulary.frequency())
        size = self._lengths.size
        lengths = self._lengths.data[:size]
        sids = np.flatnonzero(self._alive.data[:size] & (lengths > 0)
                              & (lengths < MAX_INDEXED)).astype(np.int32)
        self._fresh = []
        self._segments = [self._build_now(sids)] if len(sids) else []

    def _live_seq(self, key: int) -> str:
        """The token string of a live key, or KeyError."""
        seq = self._seqs[key] if 0 <= key < len(self._seqs) else None
        if seq is None:
            raise KeyError(f"no instruction with key {key} in the index"
                           " (keys come from add() and stay until discard())")
        return seq
