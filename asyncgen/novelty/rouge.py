"""ROUGE-L arithmetic with rouge-score's exact floats, and the token vocabulary of the pool.

An instruction is compared as a string of tokens, each token one character, so that a
bit-parallel LCS runs over plain strings. `Vocabulary` hands out those characters.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import numpy.typing as npt
from rapidfuzz.distance import LCSseq

from asyncgen.novelty.postings import UNKNOWN_CODE

_NON_ALPHANUMERIC = re.compile(r"[^a-z0-9]+")  # rouge_score.tokenize.NON_ALPHANUM_RE
UNKNOWN = chr(UNKNOWN_CODE)  # stands for every candidate token no pool instruction contains
SURROGATES = range(0xD800, 0xE000)  # code points that cannot stand for a token
CODE_POINTS = ord(UNKNOWN) - 1 - len(SURROGATES)  # characters available for tokens


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


def token_char(number: int) -> str:
    """The character for the number-th token (1-based), skipping surrogates."""
    code = number + len(SURROGATES) if number >= SURROGATES.start else number
    if code >= ord(UNKNOWN):
        raise VocabularyFull(f"the pool uses more than {CODE_POINTS} distinct tokens")
    return chr(code)


class Vocabulary:
    """Tokens of pool instructions, each standing as one character; the pool only grows, so a
    character, once handed out, stands for its token for good."""

    __slots__ = ("_codes", "_count", "_refs")

    def __init__(self) -> None:
        self._codes: dict[str, str] = {}  # token -> character
        self._refs: dict[str, int] = {}  # character -> distinct token strings with it
        self._count = 0  # characters handed out so far

    def __len__(self) -> int:
        return len(self._codes)

    def encode(self, tokens: list[str]) -> str:
        """A candidate's token string; tokens new to the pool become UNKNOWN."""
        codes = self._codes
        return "".join([codes.get(token, UNKNOWN) for token in tokens])

    def encode_new(self, tokens: list[str]) -> str:
        """A pool instruction's token string, giving new tokens characters (none is given when
        the vocabulary is full: VocabularyFull, and the tokens new here are dropped again)."""
        before = self._count
        try:
            return "".join([self._codes.get(token) or self._new(token) for token in tokens])
        except VocabularyFull:
            for token in tokens:
                char = self._codes.get(token)
                if char is not None and ord_of(char) > before:
                    del self._codes[token], self._refs[char]
            self._count = before
            raise

    def hold(self, seq: str) -> None:
        """Count a distinct token string into the pool."""
        for char in set(seq):
            self._refs[char] += 1

    def frequency(self) -> npt.NDArray[np.int64]:
        """How many distinct token strings hold each code (indexed by code point)."""
        refs = self._refs
        codes = np.fromiter(map(ord, refs), dtype=np.int64, count=len(refs))
        counts = np.fromiter(refs.values(), dtype=np.int64, count=len(refs))
        frequency = np.zeros(int(codes.max(initial=0)) + 1, dtype=np.int64)
        frequency[codes] = counts
        return frequency

    def _new(self, token: str) -> str:
        """A character for a token new to the pool (it ranks as the rarest so far)."""
        char = token_char(self._count + 1)
        self._count += 1
        self._codes[token], self._refs[char] = char, 0
        return char


def ord_of(char: str) -> int:
    """The token number (1-based) a character stands for: `token_char`'s inverse."""
    code = ord(char)
    return code - len(SURROGATES) if code >= SURROGATES.stop else code
