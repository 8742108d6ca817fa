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
3. Prefix filtering, as in set-similarity joins: every instruction is indexed under only its
   rarest few tokens, the candidate probes only its own rarest few, and every instruction
   that shares enough tokens to pass is found that way (`RougeLIndex._candidates`).
   Survivors are scored exactly. Below `min_threshold` the index does not apply, and a
   query scores every instruction of a feasible length instead (in C++, but linear).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from itertools import groupby, islice
from typing import Any

from rapidfuzz import process
from rapidfuzz.distance import LCSseq

__all__ = ["DEFAULT_MIN_THRESHOLD", "DEFAULT_THRESHOLD", "RougeLIndex", "VocabularyFull",
           "f_measure", "rouge_l", "tokenize"]

DEFAULT_THRESHOLD = 0.7  # the paper's diversity rule: reject when ROUGE-L > 0.7
DEFAULT_MIN_THRESHOLD = 0.5  # the least threshold (or floor) the prefix index serves
_RENUMBER_AT: tuple[int, ...] = (1_000, 10_000)  # distinct instructions; re-rank tokens then

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


@lru_cache(maxsize=4096)
def _indexed_prefix(n: int, min_threshold: float) -> int:
    """How many of a length-n instruction's rarest tokens the index holds.

    An instruction must be found by every query it can pass at `min_threshold` or above,
    so the prefix is sized for the least overlap any candidate length m can need. For
    m > 2n/min_threshold even L = n scores below min_threshold, so the scan stops there, or
    at m = 2n + 1 for a small min_threshold: the least LCS a length m needs never falls as m
    grows, and m = n is always feasible, so the least need is found at some m <= n.
    """
    top = min(int(2 * n / min_threshold) + 2, 2 * n + 2)
    needs = [_min_lcs(m, n, min_threshold, False) for m in range(1, top)]
    feasible = [need for need in needs if need > 0]
    return n - min(feasible) + 1 if feasible else 0


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


def _prefix_positions(seq: str, size: int) -> list[tuple[str, int]]:
    """The distinct tokens among a string's first `size` in index order, each with the
    position of its first occurrence there."""
    order = _rarest_first(seq)[:size]
    return [(char, order.index(char)) for char, _ in groupby(order)]


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
    least `min_threshold` use the prefix index; lower ones score the whole pool.
    """

    __slots__ = ("_by_length", "_keys", "_lengths", "_min_threshold", "_postings",
                 "_renumber_at", "_seqs", "_size", "_texts", "_vocabulary")

    def __init__(self, *, min_threshold: float = DEFAULT_MIN_THRESHOLD) -> None:
        if not 0.0 < float(min_threshold) <= 1.0:
            raise ValueError(f"min_threshold must be in (0, 1], got {min_threshold!r}")
        self._min_threshold = float(min_threshold)
        self._vocabulary = _Vocabulary()
        self._renumber_at: tuple[int, ...] = _RENUMBER_AT  # renumberings still to come
        self._texts: list[str | None] = []  # key -> instruction text; None once discarded
        self._seqs: list[str | None] = []  # key -> its token string
        self._keys: dict[str, list[int]] = {}  # token string -> live keys that have it
        # length n -> character -> (positions, strings): the distinct length-n token strings
        # with that character in their indexed prefix, by its position there (ascending)
        self._postings: dict[int, dict[str, tuple[list[int], list[str]]]] = {}
        self._by_length: dict[int, set[str]] = {}  # length n -> distinct token strings
        self._lengths: list[int] = []  # the keys of _by_length, sorted
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[int]:
        """Live keys, oldest first."""
        return (key for key, seq in enumerate(self._seqs) if seq is not None)

    def __repr__(self) -> str:
        lengths = f"{self._lengths[0]}..{self._lengths[-1]}" if self._lengths else "none"
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
            self._renumber_at = self._renumber_at[1:]
            self._renumber()
        return key

    def discard(self, key: int) -> None:
        """Remove a pool instruction. Unlike `set.discard`, a key that is not in the index
        raises KeyError: the filter releases each admitted instruction at most once."""
        seq = self._live_seq(key)
        keys = self._keys[seq]
        keys.remove(key)
        if not keys:
            del self._keys[seq]
            self._unindex(seq)
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
        """Yield (token string, score) for every distinct pool token string that passes."""
        m = len(seq)
        needs = self._needs(m, threshold, strict)
        if not needs:
            return
        batches: Iterable[tuple[list[str], int]]
        if threshold >= self._min_threshold:
            batches = self._candidates(seq, needs)  # lazily: is_novel stops at a match
        else:  # score every string of a feasible length
            batches = [(list(self._by_length[n]), need) for n, need in needs.items()]
        for choices, cutoff in batches:  # one length each, pruned in C by its least LCS
            for choice, lcs, _ in process.extract(seq, choices, scorer=_LCS_LENGTH,
                                                  score_cutoff=cutoff, limit=None):
                score = f_measure(int(lcs), m, len(choice))
                if _passes(score, threshold, strict):
                    yield choice, score

    def _needs(self, m: int, threshold: float, strict: bool) -> dict[int, int]:
        """Pool lengths that can pass against m tokens, each with its least LCS."""
        needs = {}
        for n in self._lengths:
            need = _min_lcs(m, n, threshold, strict)
            if need >= 0:
                needs[n] = need
            elif n > m:
                break  # the best score, 2m/(m+n), only falls as n grows past m
        return needs

    def _candidates(self, seq: str, needs: dict[int, int]) -> Iterator[tuple[list[str], int]]:
        """Per length, token strings sharing a token with the candidate within both prefixes.

        A length-n string can pass only with LCS >= need, and LCS is at most the multiset
        overlap of the two token lists (a common subsequence pairs equal tokens one to one).
        Write each token list as elements (token, i-th occurrence) in one fixed order. If
        the overlap is >= need, then before the first shared element, in that order, come at
        most n - need elements of the pool string and m - need of the candidate (need shared
        ones come at or after it). So probing the candidate's first m - need + 1 elements,
        and taking from each posting the strings where that token starts at position
        <= n - need, finds every string that can pass. The postings hold every string's
        first n - need_min + 1 elements, need_min <= need (`_indexed_prefix`). Unknown
        tokens are shared by no string and may go first.
        """
        order = _rarest_first(seq)
        chars = [char for char, _ in groupby(order)]
        starts = [order.index(char) for char in chars]
        m = len(seq)
        for n, need in sorted(needs.items(), key=lambda item: abs(item[0] - m)):
            postings = self._postings[n]  # nearest lengths first: likeliest to pass
            found: set[str] = set()
            for char in chars[:bisect.bisect_left(starts, m - need + 1)]:
                posting = postings.get(char)
                if posting is not None:
                    positions, strings = posting
                    found.update(islice(strings, bisect.bisect_right(positions, n - need)))
            if found:
                yield list(found), need  # rapidfuzz walks a list faster than a set

    def _index(self, seq: str) -> None:
        """Put a distinct token string into the postings."""
        n = len(seq)
        postings = self._postings.setdefault(n, {})
        for char, position in _prefix_positions(seq, _indexed_prefix(n, self._min_threshold)):
            posting = postings.get(char)
            if posting is None:
                posting = postings[char] = ([], [])
            positions, strings = posting
            at = bisect.bisect_right(positions, position)
            positions.insert(at, position)
            strings.insert(at, seq)
        same_length = self._by_length.setdefault(n, set())
        if not same_length:
            bisect.insort(self._lengths, n)
        same_length.add(seq)

    def _unindex(self, seq: str) -> None:
        """Take a distinct token string out of the postings."""
        n = len(seq)
        postings = self._postings[n]
        for char, _ in _prefix_positions(seq, _indexed_prefix(n, self._min_threshold)):
            positions, strings = postings[char]
            at = strings.index(seq)
            del positions[at], strings[at]
            if not strings:
                del postings[char]
        same_length = self._by_length[n]
        same_length.discard(seq)
        if not same_length:
            del self._by_length[n], self._postings[n]
            self._lengths.remove(n)

    def _renumber(self) -> None:
        """Re-rank tokens by how many instructions have them, and rebuild the postings.

        Until then tokens rank by first appearance, a poor guess early in a run; after it,
        a new token ranks as the rarest, which it is. Costs one rebuild (0.2 s at 10,000
        instructions on the bench machine); at 100,000 queries then touch ~30 % fewer.
        """
        table = self._vocabulary.renumber()
        renamed = {seq: seq.translate(table) for seq in self._keys}
        self._seqs = [None if seq is None else renamed[seq] for seq in self._seqs]
        self._keys = {renamed[seq]: keys for seq, keys in self._keys.items()}
        self._postings, self._by_length, self._lengths = {}, {}, []
        for seq in self._keys:
            self._index(seq)

    def _live_seq(self, key: int) -> str:
        """The token string of a live key, or KeyError."""
        seq = self._seqs[key] if 0 <= key < len(self._seqs) else None
        if seq is None:
            raise KeyError(f"no instruction with key {key} in the index"
                           " (keys come from add() and stay until discard())")
        return seq
