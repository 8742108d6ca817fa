"""The prefix filter's arithmetic: which LCS passes a threshold, and how much of each string
must be indexed and probed so that no passing pair is missed (see `similarity`'s docstring)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from asyncgen.novelty.rouge import f_measure, f_measures

SHARED = 3  # ℓ: elements a passing pair shares within both prefixes (fewer survivors)


def passes(score: float, threshold: float, strict: bool) -> bool:
    """`score > threshold` for the novelty rule, `score >= threshold` for `similar`."""
    return score > threshold if strict else score >= threshold


@lru_cache(maxsize=1 << 16)
def min_lcs(m: int, n: int, threshold: float, strict: bool) -> int:
    """Least LCS length whose score passes between m and n tokens, or -1 if none does.

    The computed score is strictly increasing in L, so a binary search is exact: each of
    its IEEE operations is correctly rounded (relative error <= 2**-53), so the float is
    within 1e-15 (relative) of 2L/(m+n), and 2(L+1)/(m+n) exceeds 2L/(m+n) by the factor
    (L+1)/L, far more than 1 + 2e-15 for any instruction length.
    """
    hi = min(m, n)
    if not passes(f_measure(hi, m, n), threshold, strict):
        return -1
    lo = 0
    while lo < hi:
        mid = (lo + hi) // 2
        if passes(f_measure(mid, m, n), threshold, strict):
            hi = mid
        else:
            lo = mid + 1
    return lo


_WINDOW = 3  # LCS lengths tried around the exact least one's estimate (it is within ±1)


def least_lcs(m: npt.NDArray[np.int64], n: npt.NDArray[np.int64], threshold: float,
               strict: bool) -> npt.NDArray[np.int64]:
    """`min_lcs` elementwise over arrays of lengths, in numpy (the same IEEE operations in
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
        least[at] = min_lcs(int(m[at]), int(n[at]), threshold, strict)
    return least


def indexed_prefix(n: int, min_threshold: float) -> int:
    """How many of a length-n instruction's rarest elements the index holds.

    An instruction must be found by every query it can pass at `min_threshold` or above: a
    candidate of length m needing t common tokens probes the pool's first n - t + ℓ(t)
    elements, a number that only falls as t grows. t is least at the least feasible m (for
    a fixed LCS the score falls as m grows, and past m = n the LCS cap stops growing), so
    m = 1..n+1 covers every candidate length.
    """
    return int(prefix_table(n + 1, min_threshold)[n])


_NEAR = 2  # lengths within this of the candidate's are probed (and scored) first
_GUESS_ELEMENTS, _GUESS_SHARED = 3, 2  # is_novel first scores strings of near lengths that
GUESSES = 64  # hold 2 of the candidate's 3 rarest elements, this many at most, most first


@dataclass(frozen=True, slots=True)
class Phase:
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
class Plan:
    """How one candidate length probes the index, per pool length n (arrays indexed by n)."""

    need: npt.NDArray[np.int32]  # least passing LCS against length n, or -1
    phases: tuple[Phase, Phase]  # lengths near the candidate's, then all others
    guess: Phase  # near lengths, rarest elements: where a paraphrase most likely is
    rest: Phase  # the near phase's other elements (with `guess`'s, the near phase)
    probe: int  # candidate prefix length: positions >= probe find nothing


def phase(bounds: npt.NDArray[np.int32], shared: npt.NDArray[np.int32], low: int, high: int,
           inside: bool) -> Phase:
    """The part of a plan's bounds for pool lengths low <= n < high, or outside them."""
    keep = np.zeros(bounds.shape[1], dtype=np.bool_)
    keep[max(low, 0):max(high, 0)] = True
    bounds = np.where(keep if inside else ~keep, bounds, 0)
    positions, lengths = np.nonzero(bounds)
    return part(positions.astype(np.int64), lengths.astype(np.int64),
                 bounds[positions, lengths].astype(np.int64), shared)


def part(positions: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64],
          bounds: npt.NDArray[np.int64], shared: npt.NDArray[np.int32]) -> Phase:
    """A phase of these ranges, asking for `shared[n]` hits of a length-n string."""
    found = np.unique(shared[lengths])
    return Phase(positions=positions, lengths=lengths, bounds=bounds, shared=shared,
                  least=int(found[0]) if len(found) else SHARED, varied=len(found) > 1)


@lru_cache(maxsize=1024)
def plan_query(m: int, threshold: float, strict: bool, width: int) -> Plan:
    """The probe plan of an m-token candidate against pool lengths below `width`."""
    need = least_lcs(np.full(width, m, dtype=np.int64), np.arange(width, dtype=np.int64),
                      threshold, strict).astype(np.int32)
    shared = np.minimum(need, SHARED).astype(np.int32)
    feasible = need > 0
    pool_limit = np.where(feasible, np.arange(width) - need + shared, 0).astype(np.int32)
    candidate_limit = np.where(feasible, m - need + shared, 0)
    probe = int(candidate_limit.max(initial=0))
    bounds = np.where(np.arange(probe)[:, None] < candidate_limit[None, :], pool_limit[None, :],
                      0).astype(np.int32)
    near = (m - _NEAR, m + _NEAR + 1)
    phases = (phase(bounds, shared, *near, inside=True),
              phase(bounds, shared, *near, inside=False))
    near_phase = phases[0]
    rarest = near_phase.positions < _GUESS_ELEMENTS
    guess, rest = (part(near_phase.positions[which], near_phase.lengths[which],
                         near_phase.bounds[which], kept)
                   for which, kept in ((rarest, np.minimum(shared, _GUESS_SHARED)),
                                       (~rarest, shared)))
    return Plan(need=need, phases=phases, guess=guess, rest=rest, probe=probe)


_TABLE_CELLS = 1 << 20  # (n, m) pairs per numpy pass of `prefix_table`


@lru_cache(maxsize=64)
def prefix_table(width: int, min_threshold: float) -> npt.NDArray[np.int64]:
    """`indexed_prefix` for every length below `width`, in numpy: over every (n, m) with
    m = 1..n+1, a few rows of n at a time. (A Python loop over those pairs took 60 ms at a
    width of 256 and 630 ms at 1024, on the event loop when a longer instruction came.)"""
    table = np.zeros(width, dtype=np.int64)
    rows = max(1, _TABLE_CELLS // (width + 1))
    for low in range(1, width, rows):
        n = np.arange(low, min(low + rows, width), dtype=np.int64)[:, None]
        m = np.arange(1, int(n[-1, 0]) + 2, dtype=np.int64)[None, :]
        need = least_lcs(m, n, min_threshold, False)
        sizes = np.where((need > 0) & (m <= n + 1), n - need + np.minimum(need, SHARED), 0)
        table[low:low + len(n)] = sizes.max(axis=1)
    return table
