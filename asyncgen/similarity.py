"""The exact ROUGE-L novelty index over the instruction pool.

Self-Instruct admits a candidate instruction only when its ROUGE-L F-measure against every
instruction in the pool is at most 0.7. `RougeLIndex` answers that, and "which pool
instructions score at least x", with the numbers that

    RougeScorer(["rougeL"], use_stemmer=False).score(candidate, instruction)["rougeL"].fmeasure

gives (the released Self-Instruct and Alpaca scripts pass the candidate as the target),
bit for bit, without scoring the whole pool:

1. Each token becomes one character, so an instruction is a short string, and rapidfuzz's
   bit-parallel `LCSseq` gives the exact longest-common-subsequence length L in C++.
2. For m candidate tokens and n pool tokens, `_min_lcs` is the least L that passes the
   threshold; L never exceeds how many tokens the two share, so a pool instruction that
   shares fewer cannot pass.
3. Prefix filtering, as in set-similarity joins, with the ℓ-prefix scheme: every
   instruction is indexed under only its rarest few tokens, the candidate probes only its own
   rarest few, and every instruction that shares enough tokens to pass shares at least ℓ of
   them within both prefixes (`RougeLIndex._survivors`). Postings are numpy arrays, so the
   probing, the positional bounds and the ℓ-count are vectorised; survivors are scored
   exactly in one rapidfuzz `cdist` call. Below `min_threshold` the index does not apply,
   and a query scores every instruction of a feasible length instead (in C++, on every
   core, but linear).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

__all__ = ["DEFAULT_MIN_THRESHOLD", "DEFAULT_THRESHOLD", "RougeLIndex", "VocabularyFull",
           "f_measure", "rouge_l", "tokenize"]

DEFAULT_THRESHOLD = 0.7  # the paper's diversity rule: reject when ROUGE-L > 0.7
DEFAULT_MIN_THRESHOLD = 0.5  # the least threshold (or floor) the prefix index serves
_RENUMBER_AT: tuple[int, ...] = (1_000, 10_000)  # distinct instructions; re-rank tokens then
_SHARED = 3  # ℓ: elements a passing pair shares within both prefixes (fewer survivors)
_OCCURRENCE = 1 << 21  # element key = code point + occurrence * _OCCURRENCE
_PARALLEL_AT = 20_000  # choices from which a cdist call uses every core
_CHUNK, _SCAN_CHUNK = 256, 50_000  # strings scored per rapidfuzz call: probes, scans

_NON_ALPHANUMERIC = re.compile(r"[^a-z0-9]+")  # rouge_score.tokenize.NON_ALPHANUM_RE
_UNKNOWN = chr(0x10FFFF)  # stands for every candidate token no pool instruction contains
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


def _shared(need: int) -> int:
    """ℓ for a pair that needs `need` common tokens: the ℓ-prefix scheme needs ℓ <= need."""
    return min(_SHARED, need)


@lru_cache(maxsize=4096)
def _indexed_prefix(n: int, min_threshold: float) -> int:
    """How many of a length-n instruction's rarest elements the index holds.

    An instruction must be found by every query it can pass at `min_threshold` or above: a
    candidate of length m needing t common tokens probes the pool's first n - t + ℓ(t)
    elements, a number that only falls as t grows. t is least at the least feasible m (for
    a fixed LCS the score falls as m grows, and past m = n the LCS cap stops growing), so
    m = 1..n+1 covers every candidate length.
    """
    sizes = [n - need + _shared(need) for m in range(1, n + 2)
             if (need := _min_lcs(m, n, min_threshold, False)) > 0]
    return max(sizes, default=0)


_NEAR = 2  # lengths within this of the candidate's are probed (and scored) first


@dataclass(frozen=True, slots=True)
class _Phase:
    """One range of pool lengths a candidate probes at once: near its own length first."""

    bounds: npt.NDArray[np.int32]  # [i][n]: pool positions < this pass at candidate position i
    windows: tuple[tuple[int, int], ...]  # [i]: the lengths low <= n < high bounds[i] admits


@dataclass(frozen=True, slots=True)
class _Plan:
    """How one candidate length probes the index, per pool length n (arrays indexed by n)."""

    need: npt.NDArray[np.int32]  # least passing LCS against length n, or -1
    shared: npt.NDArray[np.int32]  # ℓ(n): elements that must be found in both prefixes
    phases: tuple[_Phase, _Phase]  # lengths near the candidate's, then all others
    probe: int  # candidate prefix length: positions >= probe find nothing


def _phase(bounds: npt.NDArray[np.int32], low: int, high: int, inside: bool) -> _Phase:
    """The part of a plan's bounds for pool lengths low <= n < high, or outside them."""
    keep = np.zeros(bounds.shape[1], dtype=np.bool_)
    keep[max(low, 0):max(high, 0)] = True
    bounds = np.where(keep if inside else ~keep, bounds, 0).astype(np.int32)
    width = bounds.shape[1]
    windows = tuple((int(np.argmax(row > 0)), int(width - np.argmax(row[::-1] > 0)))
                    if row.any() else (0, 0) for row in bounds)
    return _Phase(bounds=bounds, windows=windows)


@lru_cache(maxsize=1024)
def _plan(m: int, threshold: float, strict: bool, width: int) -> _Plan:
    """The probe plan of an m-token candidate against pool lengths below `width`."""
    need = np.array([_min_lcs(m, n, threshold, strict) for n in range(width)], dtype=np.int32)
    shared = np.minimum(need, _SHARED).astype(np.int32)
    feasible = need > 0
    pool_limit = np.where(feasible, np.arange(width) - need + shared, 0).astype(np.int32)
    candidate_limit = np.where(feasible, m - need + shared, 0)
    probe = int(candidate_limit.max(initial=0))
    bounds = np.where(np.arange(probe)[:, None] < candidate_limit[None, :], pool_limit[None, :],
                      0).astype(np.int32)
    near = (m - _NEAR, m + _NEAR + 1)
    phases = (_phase(bounds, *near, inside=True), _phase(bounds, *near, inside=False))
    return _Plan(need=need, shared=shared, phases=phases, probe=probe)


def _elements(seq: str, size: int) -> Iterator[tuple[int, int]]:
    """(element key, position) of a token string's first `size` elements in index order.

    An element is a token with its occurrence number, so equal tokens stay distinct as a
    multiset intersection needs; unknown tokens (`_UNKNOWN`, the highest) come first and
    have no key (-1)."""
    previous, occurrence = "", 0
    for position, char in enumerate(_rarest_first(seq)[:size]):
        occurrence = occurrence + 1 if char == previous else 0
        previous = char
        yield (-1 if char == _UNKNOWN else ord(char) + occurrence * _OCCURRENCE), position


class _Posting:
    """The pool strings holding one element in their indexed prefix, in numpy arrays.

    The first `sorted` entries are ordered by string length, `offsets[n]` being the first
    of length >= n, so a query takes only the lengths it can pass; entries added since sit
    unordered after them, and are merged in once they are an eighth of the posting.
    """

    __slots__ = ("ids", "lengths", "positions", "offsets", "sorted", "size")

    def __init__(self, ids: npt.NDArray[np.int32], lengths: npt.NDArray[np.int32],
                 positions: npt.NDArray[np.int32]) -> None:
        self.ids, self.lengths, self.positions = ids, lengths, positions
        self.size = len(ids)
        self.sorted = 0
        self.offsets: npt.NDArray[np.intp] = np.zeros(1, dtype=np.intp)
        self._merge()

    def append(self, sid: int, n: int, position: int) -> None:
        """Add one string (amortised O(1): capacity doubles, merges are geometric)."""
        if self.size == len(self.ids):
            capacity = max(4, 2 * self.size)
            self.ids = np.resize(self.ids, capacity)
            self.lengths = np.resize(self.lengths, capacity)
            self.positions = np.resize(self.positions, capacity)
        self.ids[self.size], self.lengths[self.size] = sid, n
        self.positions[self.size] = position
        self.size += 1
        if self.size - self.sorted > max(32, self.sorted >> 3):
            self._merge()

    def window(self, low: int, high: int) -> tuple[int, int]:
        """The sorted entries of lengths low <= n < high, as a slice."""
        offsets = self.offsets
        last = len(offsets) - 1
        return int(offsets[min(low, last)]), int(offsets[min(high, last)])

    def _merge(self) -> None:
        """Order every entry by length and recompute the offsets."""
        size = self.size
        order = np.argsort(self.lengths[:size], kind="stable")
        self.ids[:size] = self.ids[:size][order]
        self.lengths[:size] = self.lengths[:size][order]
        self.positions[:size] = self.positions[:size][order]
        self.sorted = size
        top = int(self.lengths[size - 1]) + 2 if size else 1
        self.offsets = np.searchsorted(self.lengths[:size], np.arange(top)).astype(np.intp)


class _Column:
    """A growable numpy array indexed by string id."""

    __slots__ = ("data", "size")

    def __init__(self, dtype: type) -> None:
        self.data: npt.NDArray[Any] = np.zeros(1024, dtype=dtype)
        self.size = 0

    def append(self, value: Any) -> None:
        if self.size == len(self.data):
            self.data = np.concatenate([self.data, np.zeros_like(self.data)])
        self.data[self.size] = value
        self.size += 1


def _check_threshold(name: str, value: float) -> float:
    """Fail fast on a threshold outside [0, 1]."""
    value = float(value)
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}")
    return value


def _rarest_first(seq: str) -> str:
    """A token string in the index's one fixed order: highest character (and _UNKNOWN) first.

    `_Vocabulary` hands out characters most common token first, so a higher character is a
    rarer token. Correctness needs only that the order is the same for every instruction
    and query while they are indexed (`RougeLIndex._candidates`).
    """
    return "".join(sorted(seq, reverse=True))


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

    def renumber(self) -> dict[int, str]:
        """Hand out characters afresh, most common token first; return the translation."""
        ranked = sorted(self._refs, key=lambda char: (-self._refs[char], char))
        table = {ord(old): _char(number) for number, old in enumerate(ranked, start=1)}
        self._codes = {self._chars[old]: table[ord(old)] for old in ranked}
        self._chars = {char: token for token, char in self._codes.items()}
        self._refs = {table[ord(old)]: self._refs[old] for old in ranked}
        self._free, self._count = [], len(ranked)
        return table

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
    distinct token string gets a string id (sid); a discarded one is only marked dead in the
    postings until the next re-ranking rebuilds them.
    """

    __slots__ = ("_alive", "_by_length", "_counts", "_keys", "_lengths", "_min_threshold",
                 "_postings", "_renumber_at", "_seqs", "_sid", "_sid_seqs", "_size", "_texts",
                 "_vocabulary", "_width")

    def __init__(self, *, min_threshold: float = DEFAULT_MIN_THRESHOLD) -> None:
        if not 0.0 < float(min_threshold) <= 1.0:
            raise ValueError(f"min_threshold must be in (0, 1], got {min_threshold!r}")
        self._min_threshold = float(min_threshold)
        self._vocabulary = _Vocabulary()
        self._renumber_at: tuple[int, ...] = _RENUMBER_AT  # renumberings still to come
        self._texts: list[str | None] = []  # key -> instruction text; None once discarded
        self._seqs: list[str | None] = []  # key -> its token string
        self._keys: dict[str, list[int]] = {}  # token string -> live keys that have it
        self._sid: dict[str, int] = {}  # live token string -> its string id
        self._sid_seqs: list[str] = []  # string id -> token string
        self._lengths = _Column(np.int32)  # string id -> token count
        self._alive = _Column(np.bool_)  # string id -> still in the pool
        self._counts = np.zeros(1024, dtype=np.uint16)  # scratch: hits per string id, all 0
        self._postings: dict[int, _Posting] = {}  # element key -> strings holding it
        self._by_length: dict[int, int] = {}  # length n -> live distinct strings
        self._width = 1  # every indexed length is below this (a power of two)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[int]:
        """Live keys, oldest first."""
        return (key for key, seq in enumerate(self._seqs) if seq is not None)

    def __repr__(self) -> str:
        lengths = (f"{min(self._by_length)}..{max(self._by_length)}" if self._by_length
                   else "none")
        return (f"<RougeLIndex instructions={self._size} distinct={len(self._keys)}"
                f" keys_issued={len(self._seqs)} vocabulary={len(self._vocabulary)}"
                f" lengths={lengths} min_threshold={self._min_threshold}>")

    def add(self, text: str) -> int:
        """Add a pool instruction; return its key."""
        seq = self._vocabulary.encode_new(tokenize(text))
        key = len(self._seqs)
        self._texts.append(text)
        self._seqs.append(seq)
        self._size += 1
        keys = self._keys.get(seq)
        if keys is not None:
            keys.append(key)
            return key
        self._keys[seq] = [key]
        self._vocabulary.hold(seq)
        self._index(seq)
        if self._renumber_at and len(self._keys) >= self._renumber_at[0]:
            while self._renumber_at and len(self._keys) >= self._renumber_at[0]:
                self._renumber_at = self._renumber_at[1:]
            self._renumber()
        return key

    def add_many(self, texts: Iterable[str]) -> list[int]:
        """Add many pool instructions at once (a restore): rank tokens by how many of them
        hold each, then build the postings in one vectorised pass. Returns their keys."""
        keys = []
        for text in texts:
            seq = self._vocabulary.encode_new(tokenize(text))
            key = len(self._seqs)
            self._texts.append(text)
            self._seqs.append(seq)
            self._size += 1
            keys.append(key)
            same = self._keys.get(seq)
            if same is None:
                self._keys[seq] = [key]
                self._vocabulary.hold(seq)
            else:
                same.append(key)
        self._renumber_at = tuple(at for at in self._renumber_at if at > len(self._keys))
        self._renumber()
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
        return next(self._matches(seq, threshold, strict=True), None) is None

    def similar(self, text: str, floor: float) -> list[tuple[int, float]]:
        """Every pool instruction scoring >= floor, as (key, score): best first, then by key."""
        floor = _check_threshold("floor", floor)
        seq = self._vocabulary.encode(tokenize(text))
        found = [(key, score) for string, score in self._matches(seq, floor, strict=False)
                 for key in self._keys[string]]
        found.sort(key=lambda item: (-item[1], item[0]))
        return found

    def _matches(self, seq: str, threshold: float, strict: bool) -> Iterator[tuple[str, float]]:
        """Yield (token string, score) for every distinct pool token string that passes:
        lengths near the candidate's first, where a near-duplicate most likely is."""
        if not self._by_length:
            return
        plan = _plan(len(seq), threshold, strict, self._width)
        if threshold < self._min_threshold:  # score every live string of a feasible length
            live = self._alive.data[:self._alive.size]
            lengths = self._lengths.data[:self._lengths.size]
            yield from self._score(seq, plan, np.flatnonzero(live & (plan.need[lengths] >= 0)),
                                   threshold, strict, _SCAN_CHUNK)
            return
        probes = [(posting, position) for key, position in _elements(seq, plan.probe)
                  if key >= 0 and (posting := self._postings.get(key)) is not None]
        for phase in plan.phases:
            yield from self._score(seq, plan, self._survivors(probes, phase, plan), threshold,
                                   strict)

    def _score(self, seq: str, plan: _Plan, sids: npt.NDArray[np.intp], threshold: float,
               strict: bool, chunk_size: int = _CHUNK) -> Iterator[tuple[str, float]]:
        """Score candidate strings exactly, a chunk per rapidfuzz call (so `is_novel` stops
        at the first chunk with a match); yield those that pass."""
        m = len(seq)
        lengths = self._lengths.data
        for start in range(0, len(sids), chunk_size):
            chunk = sids[start:start + chunk_size]
            choices = [self._sid_seqs[sid] for sid in chunk.tolist()]
            lcs = process.cdist([seq], choices, scorer=_LCS_LENGTH, dtype=np.int32,
                                workers=-1 if len(choices) >= _PARALLEL_AT else 1)[0]
            for at in np.flatnonzero(lcs >= plan.need[lengths[chunk]]).tolist():
                choice = choices[at]
                score = f_measure(int(lcs[at]), m, len(choice))
                if _passes(score, threshold, strict):  # always, by _min_lcs; kept as a guard
                    yield choice, score

    def _survivors(self, probes: list[tuple[_Posting, int]], phase: _Phase,
                   plan: _Plan) -> npt.NDArray[np.intp]:
        """String ids of the phase's lengths that share at least ℓ elements with the
        candidate within both prefixes.

        A pair passes only with LCS >= need = t, and LCS is at most their multiset overlap.
        Write both token lists as elements (token, i-th occurrence) in one fixed order; if
        they share >= t elements, their first ℓ shared ones (ℓ <= t) lie within the first
        m - t + ℓ elements of the candidate and the first n - t + ℓ of the pool string (at
        most m - t, resp. n - t, unshared elements come before them). So probing the
        candidate's first m - t + ℓ elements, keeping posting entries at positions below
        n - t + ℓ, and then strings found ℓ times, keeps every string that can pass.
        A string has one length, so phases (length ranges) count their hits apart.
        """
        counts = self._counts
        hits = []
        bounds, windows = phase.bounds, phase.windows
        for posting, position in probes:
            low, high = windows[position]
            if low >= high:
                continue
            bound = bounds[position]
            start, stop = posting.window(low, high)
            ids, lengths, positions = posting.ids, posting.lengths, posting.positions
            found = ids[start:stop][positions[start:stop] < bound[lengths[start:stop]]]
            if posting.size > posting.sorted:  # the unordered tail
                start, stop = posting.sorted, posting.size
                tail = ids[start:stop][positions[start:stop] < bound[lengths[start:stop]]]
                found = np.concatenate([found, tail])
            if len(found):
                counts[found] += 1  # a posting holds each string once
                hits.append(found)
        if not hits:
            return np.empty(0, dtype=np.intp)
        found = np.concatenate(hits)
        enough = counts[found] >= plan.shared[self._lengths.data[found]]
        counts[found] = 0
        found = np.unique(found[enough])
        alive: npt.NDArray[np.intp] = found[self._alive.data[found]]
        return alive

    def _index(self, seq: str) -> None:
        """Give a new distinct token string an id and put it into the postings."""
        sid = len(self._sid_seqs)
        n = len(seq)
        self._sid[seq] = sid
        self._sid_seqs.append(seq)
        self._lengths.append(n)
        self._alive.append(True)
        if sid >= len(self._counts):
            self._counts = np.zeros(2 * len(self._counts), dtype=np.uint16)
        self._by_length[n] = self._by_length.get(n, 0) + 1
        while n >= self._width:
            self._width *= 2
        postings = self._postings
        for key, position in _elements(seq, _indexed_prefix(n, self._min_threshold)):
            posting = postings.get(key)
            if posting is None:
                empty = np.empty(0, dtype=np.int32)
                posting = postings[key] = _Posting(empty, empty.copy(), empty.copy())
            posting.append(sid, n, position)

    def _renumber(self) -> None:
        """Re-rank tokens by how many instructions have them, and rebuild the postings.

        Until then tokens rank by first appearance, a poor guess early in a run; after it,
        a new token ranks as the rarest, which it is. The rebuild is one vectorised pass
        over the live strings (dead ones are dropped); string ids are handed out afresh.
        """
        table = self._vocabulary.renumber()
        renamed = {seq: seq.translate(table) for seq in self._keys}
        self._seqs = [None if seq is None else renamed[seq] for seq in self._seqs]
        self._keys = {renamed[seq]: keys for seq, keys in self._keys.items()}
        seqs = list(self._keys)
        self._sid = {seq: sid for sid, seq in enumerate(seqs)}
        self._sid_seqs = seqs
        self._lengths, self._alive = _Column(np.int32), _Column(np.bool_)
        lengths = np.fromiter((len(seq) for seq in seqs), dtype=np.int32, count=len(seqs))
        self._lengths.data, self._lengths.size = lengths, len(seqs)
        self._alive.data, self._alive.size = np.ones(len(seqs), dtype=np.bool_), len(seqs)
        self._counts = np.zeros(max(1024, 2 * len(seqs)), dtype=np.uint16)
        self._by_length = {}
        for n in lengths.tolist():
            self._by_length[n] = self._by_length.get(n, 0) + 1
        self._width = 1
        while self._by_length and max(self._by_length) >= self._width:
            self._width *= 2
        keys: list[int] = []
        sids: list[int] = []
        positions: list[int] = []
        min_threshold = self._min_threshold
        for sid, seq in enumerate(seqs):
            for key, position in _elements(seq, _indexed_prefix(len(seq), min_threshold)):
                keys.append(key)
                sids.append(sid)
                positions.append(position)
        key_array = np.array(keys, dtype=np.int64)
        order = np.argsort(key_array, kind="stable")
        key_array = key_array[order]
        sid_array = np.array(sids, dtype=np.int32)[order]
        position_array = np.array(positions, dtype=np.int32)[order]
        length_array = lengths[sid_array]
        starts = np.flatnonzero(np.r_[True, key_array[1:] != key_array[:-1]])
        ends = np.r_[starts[1:], len(key_array)]
        self._postings = {
            int(key_array[start]): _Posting(sid_array[start:end].copy(),
                                            length_array[start:end].copy(),
                                            position_array[start:end].copy())
            for start, end in zip(starts.tolist(), ends.tolist(), strict=True)
        }

    def _live_seq(self, key: int) -> str:
        """The token string of a live key, or KeyError."""
        seq = self._seqs[key] if 0 <= key < len(self._seqs) else None
        if seq is None:
            raise KeyError(f"no instruction with key {key} in the index"
                           " (keys come from add() and stay until discard())")
        return seq
