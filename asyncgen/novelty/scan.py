"""The whole-pool scan of a batch of candidates, compiled, without the GIL.

`PoolScores` (asyncgen.novelty.neighbours) keeps every pool instruction's token codes in one
flat array (`starts[key]` where its tokens begin, `lengths[key]` how many). `scan` runs through
a range of keys once for a whole batch of candidates of at most 64 tokens each, with the
bit-parallel LCS of Allison–Dix / Hyyrö: a candidate is one 64-bit word; `slots[code]` numbers
the batch's distinct tokens from 1 (0: in no candidate, and such a pool token changes nothing),
and `masks[slot, j]` has bit i set when candidate j's i-th token is that token. Each pool token
in some candidate costs a few word operations per candidate (the loop over the batch is what
the compiler vectorises), and each pool instruction then gives each candidate an LCS length
L, its F (`tables[j, L * width + n]`: rouge-score's floats, see `rouge.f_measures`), added to
the candidate's total, ranked in its best 10 (ties: the lowest key, as keys come in order)
and, for a seed, its best seed.

The kernel holds no Python object and releases the GIL (`nogil`): the scanning threads run on
every core while the event loop keeps its own, and none of it stalls the loop.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from asyncgen.novelty.compiled import compiled

__all__ = ["WORD", "scan"]

WORD = 64  # tokens of a candidate the kernel takes (longer ones: rapidfuzz, in neighbours.py)
KEPT = 10  # best entries kept per candidate (neighbours.MOST_SIMILAR_KEPT)


@compiled("int64(uint64)", inline="always")
def _popcount(x: np.uint64) -> np.int64:
    """The set bits of a word (SWAR)."""
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@compiled("void(uint32[::1], int64[::1], int32[::1], int32[::1], uint64[:, ::1], uint64[::1], "
          "int64[::1], float64[:, ::1], int64, int64[::1], int64, int64, int64, float64[::1], "
          "float64[::1], int64[:, ::1], float64[:, ::1], int64[::1], float64[::1], int64[::1])",
          nogil=True)
def scan(tokens: npt.NDArray[np.uint32], starts: npt.NDArray[np.int64],
         lengths: npt.NDArray[np.int32], slots: npt.NDArray[np.int32],
         masks: npt.NDArray[np.uint64],
         full: npt.NDArray[np.uint64], sizes: npt.NDArray[np.int64],
         tables: npt.NDArray[np.float64], width: int, chosen: npt.NDArray[np.int64], lo: int,
         hi: int, seeds: int, totals: npt.NDArray[np.float64],
         squares: npt.NDArray[np.float64], top_keys: npt.NDArray[np.int64],
         top_values: npt.NDArray[np.float64], counts: npt.NDArray[np.int64],
         seed_values: npt.NDArray[np.float64], seed_keys: npt.NDArray[np.int64]) -> None:
    """Score the candidates of `masks` against keys lo..hi-1, or when `chosen` is not empty
    against the keys chosen[lo..hi-1] (ascending), each candidate j only against keys below
    `sizes[j]`; adding into `totals` (and F squared into `squares`), `top_*`/`counts` and
    `seed_*`."""
    batch = masks.shape[1]
    words = np.empty(batch, dtype=np.uint64)
    listed = len(chosen) > 0
    for at in range(lo, hi):
        key = chosen[at] if listed else at
        n = lengths[key]
        for j in range(batch):
            words[j] = ~np.uint64(0)
        for t in range(starts[key], starts[key] + n):
            row = masks[slots[tokens[t]]]  # slot 0, in no candidate: zeros, v unchanged
            for j in range(batch):
                v = words[j]
                u = v & row[j]
                words[j] = (v + u) | (v - u)
        for j in range(batch):
            if key >= sizes[j]:
                continue
            lcs = _popcount(~words[j] & full[j])
            f = tables[j, lcs * width + n]
            totals[j] += f
            squares[j] += f * f
            if key < seeds and (seed_keys[j] < 0 or f > seed_values[j]):
                seed_values[j] = f
                seed_keys[j] = key
            count = counts[j]
            if count == KEPT and f <= top_values[j, KEPT - 1]:
                continue
            at = count if count < KEPT else KEPT - 1  # where it goes: after every value >= f
            while at > 0 and top_values[j, at - 1] < f:
                if at < KEPT:
                    top_values[j, at] = top_values[j, at - 1]
                    top_keys[j, at] = top_keys[j, at - 1]
                at -= 1
            top_values[j, at] = f
            top_keys[j, at] = key
            if count < KEPT:
                counts[j] = count + 1
