"""The pool's token strings in one flat array, and the exact LCS of a candidate against many.

A token string (one character per token, see `asyncgen.novelty.similarity`) is kept as its code
points in one growable uint32 array, found by string id through a start offset and a length:
the survivors of the index's prefix filter are read from there by a compiled kernel, with no
Python object per survivor (fetching ~700 scattered Python strings and handing them to
rapidfuzz one by one was half of a novel candidate's cost at a million instructions).

The kernel is the bit-parallel LCS of Allison and Dix (1986) in Hyyrö's formulation (2004),
the one rapidfuzz's `LCSseq` uses: for a candidate of m <= 64 tokens, `mask(code)` has bit i
set where the candidate's i-th token is `code` (a small hash table, in the L1 cache); over
the pool string's codes c,

    u = v & mask(c);  v = (v + u) | (v - u)

starting from v = all ones, and the LCS length is the number of zero bits among v's low m.
It is exact: the same integer as rouge-score's dynamic programme, in a few operations per
pool token. Longer candidates fall back to rapidfuzz (the caller's).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from asyncgen.novelty.compiled import compiled
from asyncgen.novelty.postings import UNKNOWN_CODE, codes_of

__all__ = ["MAX_TOKENS", "Strings"]

MAX_TOKENS = 64  # candidates up to this many tokens are scored here (one machine word)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)
_ONE = np.uint64(1)
_FIFTY_SIX = np.uint64(56)


_SLOTS = 128  # the candidate's match masks: an open-addressing table, at most half full
_EMPTY = np.uint32(0xFFFFFFFF)  # no code (code points stop at 0x10FFFF)


@compiled("int64(uint32[::1], int64[::1], int32[::1], int32[::1], int32[::1], uint32[::1],"
          " boolean, int32[::1], int32[::1])")
def _verify(codes: npt.NDArray[np.uint32], starts: npt.NDArray[np.int64],
            lengths: npt.NDArray[np.int32], sids: npt.NDArray[np.int32],
            need: npt.NDArray[np.int32], candidate: npt.NDArray[np.uint32], first: bool,
            found: npt.NDArray[np.int32], found_lcs: npt.NDArray[np.int32]) -> int:
    """Write to `found` the positions in `sids` of the strings whose LCS with `candidate`
    reaches `need[their length]` (and that LCS to `found_lcs`), in order; `first`: stop at
    the first. Returns how many."""
    m = len(candidate)
    # code -> match mask, in a table small enough to stay in the L1 cache (a dense array by
    # code would miss the cache on most pool tokens at a large vocabulary)
    keys = np.full(_SLOTS, _EMPTY, dtype=np.uint32)
    masks = np.zeros(_SLOTS, dtype=np.uint64)
    for i in range(m):
        code = candidate[i]
        slot = ((np.int64(code) * 2654435761) >> 16) & (_SLOTS - 1)
        while keys[slot] != _EMPTY and keys[slot] != code:
            slot = (slot + 1) & (_SLOTS - 1)
        keys[slot] = code
        masks[slot] |= _ONE << np.uint64(i)
    full = _ALL if m == 64 else (_ONE << np.uint64(m)) - _ONE
    # Survivors are scattered over arrays far larger than the caches: each would wait for
    # its memory in turn. Loads with no dependency on each other overlap, so first gather
    # every survivor's start and length, then touch its first codes, then score.
    count = len(sids)
    where = np.empty(count, dtype=np.int64)
    sizes = np.empty(count, dtype=np.int64)
    for at in range(count):
        sid = sids[at]
        where[at] = starts[sid]
        sizes[at] = lengths[sid]
    touched = np.uint32(0)
    for at in range(count):
        touched |= codes[where[at]] | codes[where[at] + max(sizes[at] - 1, 0)]
    if touched == _EMPTY:  # never (codes stop at 0x10FFFF): keeps the loads from being elided
        return -1
    size = 0
    for at in range(count):
        n = sizes[at]
        least = need[n]
        if least < 0:
            continue
        v = _ALL
        start = where[at]
        for k in range(start, start + n):
            code = codes[k]
            slot = ((np.int64(code) * 2654435761) >> 16) & (_SLOTS - 1)
            while keys[slot] != code:
                if keys[slot] == _EMPTY:
                    break
                slot = (slot + 1) & (_SLOTS - 1)
            else:
                u = v & masks[slot]
                v = (v + u) | (v - u)
        x = ~v & full  # the zero bits of v: the LCS length, counted
        x = x - ((x >> _ONE) & _M1)
        x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
        x = (x + (x >> np.uint64(4))) & _M4
        lcs = np.int64((x * _H01) >> _FIFTY_SIX)
        if lcs >= least:
            found[size] = at
            found_lcs[size] = lcs
            size += 1
            if first:
                break
    return size


class Strings:
    """Token strings by string id (ids given in order from 0), as code points in one array;
    `verify` scores a candidate against some of them. One owner (the index), one thread."""

    __slots__ = ("_codes", "_found", "_lcs", "_size", "_starts", "_used")

    def __init__(self) -> None:
        self._codes = np.zeros(1 << 12, dtype=np.uint32)
        self._starts = np.zeros(1 << 10, dtype=np.int64)
        self._used = 0  # codes written
        self._size = 0  # strings
        self._found = np.zeros(0, dtype=np.int32)
        self._lcs = np.zeros(0, dtype=np.int32)

    def __len__(self) -> int:
        return self._size

    def extend(self, seqs: Sequence[str]) -> None:
        """Store the next strings (string ids len(self) on)."""
        codes = codes_of(seqs)
        if int(codes.max(initial=0)) >= UNKNOWN_CODE:
            raise ValueError("the unknown token's code stands for no pool token")
        lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
        used, size = self._used, self._size
        self._codes = _room(self._codes, used + len(codes))
        self._starts = _room(self._starts, size + len(seqs))
        self._codes[used:used + len(codes)] = codes
        self._starts[size:size + len(seqs)] = used + np.cumsum(lengths) - lengths
        self._used += len(codes)
        self._size += len(seqs)

    def verify(self, seq: str, sids: npt.NDArray[np.int32], lengths: npt.NDArray[np.int32],
               need: npt.NDArray[np.int32], first: bool
               ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
        """(positions in `sids`, LCS) of the strings whose LCS with the candidate `seq`
        (at most MAX_TOKENS tokens) reaches `need[length]`, where `lengths` is every
        string's length by id; `first`: the first such string only."""
        if len(seq) > MAX_TOKENS:
            raise ValueError(f"a candidate of {len(seq)} tokens is past {MAX_TOKENS}")
        if len(self._found) < len(sids):
            self._found = np.zeros(max(len(sids), 2 * len(self._found)), dtype=np.int32)
            self._lcs = np.zeros(len(self._found), dtype=np.int32)
        size = _verify(self._codes, self._starts, lengths, np.ascontiguousarray(sids,
                                                                                np.int32),
                       need, codes_of([seq]).copy(), first, self._found, self._lcs)
        return self._found[:size].copy(), self._lcs[:size].copy()


_Array = TypeVar("_Array", npt.NDArray[np.uint32], npt.NDArray[np.int64])


def _room(array: _Array, size: int) -> _Array:
    """`array` with room for `size` entries: grown in place by an eighth (at least), by
    `ndarray.resize`, i.e. realloc, which moves a large block's pages (mremap) instead of
    copying them. Copying a million instructions' codes (~100 MB) to a new array on the
    first `add` after a restore was a 20-40 ms stall of the event loop. No view of these
    arrays outlives a call, so the resize needs no reference check."""
    if size > len(array):
        array.resize(max(size, len(array) + len(array) // 8, 1 << 10), refcheck=False)
    return array
