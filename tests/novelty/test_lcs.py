"""The flat token strings and the compiled bit-parallel LCS, against rapidfuzz's LCSseq."""

from __future__ import annotations

import random

import numpy as np
import pytest
from rapidfuzz.distance import LCSseq

from asyncgen.novelty.lcs import MAX_TOKENS, Strings
from asyncgen.novelty.postings import UNKNOWN_CODE


def _strings(rng: random.Random, count: int, alphabet: int, longest: int) -> list[str]:
    return ["".join(chr(rng.randint(1, alphabet)) for _ in range(rng.randint(0, longest)))
            for _ in range(count)]


def _lengths(seqs: list[str]) -> np.ndarray:
    return np.array([len(seq) for seq in seqs], dtype=np.int32)


@pytest.mark.parametrize("m", [1, 2, 7, 31, 32, 33, 63, 64])
@pytest.mark.parametrize("alphabet", [2, 5, 40])
def test_every_lcs_is_rapidfuzz_s(m: int, alphabet: int) -> None:
    """All strings pass with need 0: the kernel's LCS of each is LCSseq's, whatever the
    candidate's length up to a machine word, the alphabet (repeats) and the pool lengths."""
    rng = random.Random(m * 100 + alphabet)
    seqs = _strings(rng, 300, alphabet, 90)
    strings = Strings()
    strings.extend(seqs[:100])
    for seq in seqs[100:]:  # one at a time, as the filter adds them: the arrays grow
        strings.extend([seq])
    candidate = "".join(chr(rng.randint(1, alphabet)) for _ in range(m))
    sids = np.arange(len(seqs), dtype=np.int32)
    need = np.zeros(100, dtype=np.int32)
    found, lcs = strings.verify(candidate, sids, _lengths(seqs), need, first=False)
    assert found.tolist() == list(range(len(seqs)))
    assert lcs.tolist() == [LCSseq.similarity(candidate, seq) for seq in seqs]


def test_need_selects_and_first_stops() -> None:
    """Only strings whose LCS reaches the need of their length, in the order given, each
    with its LCS; a need of -1 (an infeasible length) is never a match; `first` stops at
    the first match; the masks are clean for the next candidate."""
    rng = random.Random(7)
    seqs = _strings(rng, 500, 6, 30)
    strings = Strings()
    strings.extend(seqs)
    lengths = _lengths(seqs)
    need = np.array([rng.choice([-1, 0, 2, 4, 6, 9]) for _ in range(64)], dtype=np.int32)
    sids = np.array(rng.sample(range(len(seqs)), 300), dtype=np.int32)
    for candidate in ("\x01\x02\x03\x04\x05\x06" * 3, "\x03\x03\x01", "\x06" * 20):
        expected = [(at, LCSseq.similarity(candidate, seqs[sid]))
                    for at, sid in enumerate(sids.tolist())
                    if need[len(seqs[sid])] >= 0
                    and LCSseq.similarity(candidate, seqs[sid]) >= need[len(seqs[sid])]]
        found, lcs = strings.verify(candidate, sids, lengths, need, first=False)
        assert list(zip(found.tolist(), lcs.tolist(), strict=True)) == expected
        first, first_lcs = strings.verify(candidate, sids, lengths, need, first=True)
        assert list(zip(first.tolist(), first_lcs.tolist(), strict=True)) == expected[:1]


def test_tokens_no_pool_string_has_match_nothing() -> None:
    """The unknown token's code and codes past every pool string's are skipped, not read
    out of bounds; a string of such tokens only has LCS 0."""
    strings = Strings()
    strings.extend(["\x01\x02\x03", "\x03\x02"])
    sids = np.array([0, 1], dtype=np.int32)
    need = np.zeros(8, dtype=np.int32)
    candidate = chr(UNKNOWN_CODE) + "\x02" + chr(5000) + "\x03"
    _, lcs = strings.verify(candidate, sids, np.array([3, 2], dtype=np.int32), need, False)
    assert lcs.tolist() == [2, 1]
    _, lcs = strings.verify(chr(UNKNOWN_CODE) * 3, sids, np.array([3, 2], dtype=np.int32),
                            need, False)
    assert lcs.tolist() == [0, 0]
    with pytest.raises(ValueError):
        strings.verify("\x01" * (MAX_TOKENS + 1), sids, np.array([3, 2], dtype=np.int32),
                       need, False)
    with pytest.raises(ValueError):
        strings.extend([chr(UNKNOWN_CODE)])
