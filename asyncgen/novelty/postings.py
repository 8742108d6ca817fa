"""Immutable postings of the ROUGE-L prefix index: one flat sorted array per segment.

A segment indexes a batch of pool token strings (one character per token, see
`asyncgen.novelty.similarity`) under a fixed total order of tokens, an `Order`. Each string is
written as elements (token, i-th occurrence) sorted by that order, rarest first, and its
first few elements (how many depends on its length) become entries

    key = element << 26 | length << 13 | position,   string id

in one int64 array sorted by key, beside an int32 array of string ids. All entries of one
element and one length sit together ordered by position, so "strings of length n holding
element e within their first b elements" is one slice, found by two binary searches
(`Tally.add` finds and counts the slices of every (element, length, bound) a query asks for
in one compiled pass, numba; tests/test_postings.py holds it to the same in plain numpy).

Segments never change once built: a background thread may build one while the event loop
queries the others, and an order change only needs the next build to use the new order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from asyncgen.novelty.compiled import compiled

__all__ = ["MAX_INDEXED", "UNKNOWN_CODE", "Order", "Segment", "Tally", "build_segment",
           "elements", "lookup_keys"]

_POSITION_BITS = _LENGTH_BITS = 13
# strings this long or longer are not indexed but scored by scan (the filter drops candidates
# of over 150 words, so few are; the key layout would allow 1 << _LENGTH_BITS, but the prefix
# table of a width, built on the loop when the width grows, costs its square: 4 ms at 256,
# 24 ms at 512, 0.4 s at 1,024)
MAX_INDEXED = 1 << 8
_OCCURRENCE_BITS = 6  # occurrences past 63 share one element id (more survivors, never fewer)
_LAST_OCCURRENCE = (1 << _OCCURRENCE_BITS) - 1
_ELEMENT_SHIFT = _POSITION_BITS + _LENGTH_BITS
UNKNOWN_CODE = 0x10FFFF  # similarity._UNKNOWN: a candidate token no pool string holds
_NEW_RANK = -(1 << 22)  # codes handed out after the order was made rank first, by code
_UNKNOWN_RANK = -(1 << 23)  # ... and unknown tokens before everything
_RANK_BIAS = 1 << 23  # makes every rank non-negative and below 2**24
_BUILD_CHUNK = 1 << 16  # strings whose elements are sorted in one numpy pass

Int64s = npt.NDArray[np.int64]
Int32s = npt.NDArray[np.int32]
Bytes = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True, eq=False)
class Order:
    """A fixed total order of token codes: `table[code]` is a code's rank, rarest first.

    Codes past the table (tokens new since it was made) rank before every tabled one, by
    code; the unknown code ranks first of all. Any fixed order keeps the prefix filter
    exact; rarest first keeps the probed postings short.
    """

    table: Int32s

    @classmethod
    def by_frequency(cls, frequency: npt.NDArray[np.int64]) -> Order:
        """Rank codes by how many strings hold them (ties by code): `frequency[code]`."""
        ranked = np.argsort(frequency, kind="stable")
        table = np.empty(len(frequency), dtype=np.int32)
        table[ranked] = np.arange(len(frequency), dtype=np.int32)
        return cls(table)

    def ranks(self, codes: npt.NDArray[np.uint32]) -> Int64s:
        """The rank of each code (int64, from -2**23 up, unique per code)."""
        table = self.table
        size = len(table)
        wide = codes.astype(np.int64)
        if size:
            ranks = np.where(wide < size, table[np.minimum(wide, size - 1)], wide + _NEW_RANK)
        else:
            ranks = wide + _NEW_RANK
        ranks[wide == UNKNOWN_CODE] = _UNKNOWN_RANK
        return ranks


def codes_of(seqs: Sequence[str]) -> npt.NDArray[np.uint32]:
    """The code points of token strings, concatenated."""
    return np.frombuffer("".join(seqs).encode("utf-32-le"), dtype=np.uint32)


def elements(seq: str, order: Order, size: int) -> Int64s:
    """Element ids of a candidate's first `size` elements under `order`, as `Order.ranks`
    and the build rank them; unknown tokens come first, and no segment holds their ids.

    Compiled (`_elements`): in Python, its sort of tens of tokens was a fifth of a verdict's
    CPU at a 100K pool."""
    return _elements(codes_of([seq]).copy(), order.table, size)


@compiled("int64[::1](uint32[::1], int32[::1], int64)")
def _elements(codes: npt.NDArray[np.uint32], table: Int32s, size: int) -> Int64s:
    """`elements` of a candidate's code points."""
    count = len(codes)
    tabled = len(table)
    ranks = np.empty(count, dtype=np.int64)
    for at in range(count):
        code = int(codes[at])
        if code == UNKNOWN_CODE:
            ranks[at] = _UNKNOWN_RANK
        elif code < tabled:
            ranks[at] = table[code]
        else:
            ranks[at] = code + _NEW_RANK
    by_rank = np.argsort(ranks, kind="mergesort")  # ranks are unique per code
    taken = min(size, count)
    ids = np.empty(max(taken, 0), dtype=np.int64)
    previous = occurrence = -1
    for at in range(taken):  # equal tokens sit together
        code = int(codes[by_rank[at]])
        occurrence = occurrence + 1 if code == previous else 0
        previous = code
        ids[at] = (code << _OCCURRENCE_BITS) + min(occurrence, _LAST_OCCURRENCE)
    return ids


def _occurrences(codes: Int64s, starts: npt.NDArray[np.bool_]) -> Int64s:
    """Occurrence number of each code within its run of equal codes (runs also break where
    `starts` is set): equal tokens sit together once sorted by rank."""
    count = len(codes)
    if not count:
        return np.zeros(0, dtype=np.int64)
    new_run = starts.copy()
    new_run[0] = True
    new_run[1:] |= codes[1:] != codes[:-1]
    at = np.arange(count, dtype=np.int64)
    return at - np.maximum.accumulate(np.where(new_run, at, 0))


def lookup_keys(ids: Int64s, lengths: Int64s, bounds: Int64s) -> tuple[Int64s, Int64s]:
    """[low, high) key ranges: element `ids`, pool length, position below the bound."""
    low = (ids << _ELEMENT_SHIFT) | (lengths << _POSITION_BITS)
    return low, low + bounds


@dataclass(frozen=True, slots=True, eq=False)
class Segment:
    """The indexed prefixes of a batch of strings, under one order (see the module doc)."""

    order: Order
    keys: Int64s  # sorted
    sids: Int32s  # the string id of each key's string
    members: Int32s  # the string ids indexed here (live ones at build time)

    def __len__(self) -> int:
        return len(self.members)


# A tally marks a string with one byte: the query (epoch) in the high bits, how many
# ranges held it in the low bits, saturating (every ℓ asked for is far below the cap).
_EPOCH_BITS = 4
_COUNT_MASK = (1 << (8 - _EPOCH_BITS)) - 1
_EPOCHS = 1 << _EPOCH_BITS  # epochs 1.._EPOCHS-1, then every mark is cleared


@compiled("int64(int64[::1], int64, int64)")
def _search(keys: Int64s, key: int, at: int) -> int:
    """searchsorted(keys, key), given that it is at least `at`: gallop from `at`, bisect."""
    size = len(keys)
    step = 1
    high = at
    while high < size and keys[high] < key:
        at = high + 1
        high += step
        step *= 2
    high = min(high, size)
    while at < high:
        middle = (at + high) >> 1
        if keys[middle] < key:
            at = middle + 1
        else:
            high = middle
    return at


@compiled("int64(int64[::1], int32[::1], int64[::1], int64[::1], uint8[::1], int64, int64,"
           " int32[::1], int64)")
def _tally(keys: Int64s, sids: Int32s, low: Int64s, high: Int64s, marks: Bytes, epoch: int,
           least: int, reached: Int32s, used: int) -> int:
    """Count, per string, the ranges [low, high) of `keys` holding it (its mark for this
    epoch); append a string to `reached[used:]` when its count becomes `least`. Returns the
    new `used`. Ranges in increasing order (a phase's, per candidate position) are found by
    galloping on from the last one."""
    previous = -1
    stop = 0
    stamp = epoch << (8 - _EPOCH_BITS)
    for at_range in range(len(low)):
        start = (_search(keys, low[at_range], stop) if low[at_range] >= previous
                 else _search(keys, low[at_range], 0))
        stop = _search(keys, high[at_range], start)
        previous = high[at_range]
        for at in range(start, stop):
            sid = sids[at]
            mark = marks[sid]
            count = (mark & _COUNT_MASK) + 1 if mark & ~_COUNT_MASK == stamp else 1
            if count == least:  # once per string and `least`: counts only rise by one
                reached[used] = sid
                used += 1
            marks[sid] = stamp | min(count, _COUNT_MASK)
    return used


@compiled("Tuple((int32[::1], int32[::1]))(uint8[::1], int32[::1], int64, int64, boolean)")
def _harvest(marks: Bytes, reached: Int32s, least: int, epoch: int,
             last: bool) -> tuple[Int32s, Int32s]:
    """(ids, counts) of the distinct `reached` strings counted at least `least` times this
    epoch, most counted first, then in the order they were reached. `last`: the epoch's
    last harvest, which may clear the marks of the strings it takes (a string noted twice
    is taken once)."""
    stamp = epoch << (8 - _EPOCH_BITS)
    found = np.empty(len(reached), dtype=np.int32)
    counts = np.empty(len(reached), dtype=np.int32)
    per_count = np.zeros(_COUNT_MASK + 2, dtype=np.int64)
    size = 0
    for sid in reached:
        mark = marks[sid]
        count = mark & _COUNT_MASK
        if mark & ~_COUNT_MASK == stamp and count >= least:
            if last:
                marks[sid] = 0
            found[size] = sid
            counts[size] = count
            per_count[_COUNT_MASK - count + 1] += 1
            size += 1
    if not last and size > 1:  # a string noted twice is found twice: keep its first
        seen = set()
        kept = 0
        for at in range(size):
            sid = found[at]
            if sid in seen:
                per_count[_COUNT_MASK - counts[at] + 1] -= 1
            else:
                seen.add(sid)
                found[kept] = sid
                counts[kept] = counts[at]
                kept += 1
        size = kept
    starts = np.cumsum(per_count)  # a counting sort, most counted first
    ordered = np.empty(size, dtype=np.int32)
    ordered_counts = np.empty(size, dtype=np.int32)
    for at in range(size):
        slot = _COUNT_MASK - counts[at]
        ordered[starts[slot]] = found[at]
        ordered_counts[starts[slot]] = counts[at]
        starts[slot] += 1
    return ordered, ordered_counts


class Tally:
    """Which strings a query's ranges hold at least ℓ times: a compiled pass over each range's
    entries counts the ranges holding each string in a per-string byte, and notes the
    strings that reach the least count asked for; those are the survivors. One query's
    counts at a time (`start` begins the next: an epoch, so nothing needs clearing but every
    `_EPOCHS - 1` starts). Counts saturate at 15, far above any ℓ: past that, the most-shared
    order among survivors only ties. Not thread-safe: one owner (the index) queries it.
    """

    __slots__ = ("_epoch", "_least", "_marks", "_reached", "_rises", "_starts", "_used")

    def __init__(self) -> None:
        self._marks: Bytes = np.zeros(0, dtype=np.uint8)  # string id -> epoch | count
        self._reached: Int32s = np.zeros(0, dtype=np.int32)  # strings that reached `least`
        self._epoch = 0
        self._least = self._rises = self._used = self._starts = 0

    def start(self, strings: int) -> int:
        """Begin counting afresh, for string ids below `strings`; returns `starts`."""
        if len(self._marks) < strings:
            capacity = max(strings, 2 * len(self._marks))
            self._marks = np.zeros(capacity, dtype=np.uint8)
            # a string is noted at most twice per epoch: `least` rises at most once
            self._reached = np.zeros(2 * capacity, dtype=np.int32)
            self._epoch = 0
        self._epoch += 1
        if self._epoch == _EPOCHS:
            self._marks.fill(0)
            self._epoch = 1
        self._least = self._rises = self._used = 0
        self._starts += 1
        return self._starts

    @property
    def starts(self) -> int:
        """How many times `start` ran: a query that keeps counting across a pause checks
        that no other query started meanwhile."""
        return self._starts

    def add(self, segment: Segment, low: Int64s, high: Int64s, least: int) -> None:
        """Count the strings of `segment`'s ranges [low, high) (sorted per run, see
        `_tally`). `least` may rise once between calls, never fall."""
        if not 1 <= least <= _COUNT_MASK or least < self._least:
            raise ValueError(f"least {least} after {self._least}: it may only rise, up to"
                             f" {_COUNT_MASK}")
        if self._least and least > self._least:
            self._rises += 1
            if self._rises > 1:  # `_reached` holds two notes per string, no more
                raise ValueError("least may rise only once between starts")
        self._least = least
        self._used = int(_tally(segment.keys, segment.sids, low, high, self._marks,
                                self._epoch, least, self._reached, self._used))

    def survivors(self, least: int, last: bool = True) -> tuple[Int32s, Int32s]:
        """(string ids counted at least `least` times since `start`, their counts), most
        counted first (then as reached); `least` at least the last one `add` was given.
        `last`: no more `add` or `survivors` until the next `start` (cheaper)."""
        if least < self._least:
            raise ValueError(f"least {least} is below the {self._least} counted to")
        found: tuple[Int32s, Int32s] = _harvest(self._marks, self._reached[:self._used], least,
                                                self._epoch, last)
        if last:
            self._least = _COUNT_MASK + 1  # nothing more to add this epoch
        return found


def build_segment(sids: Int32s, seqs: Sequence[str], order: Order,
                  prefix: npt.NDArray[np.int64]) -> Segment:
    """Index strings (`seqs[i]` has id `sids[i]`, every length below MAX_INDEXED and below
    len(prefix)) under `order`, each under its first `prefix[length]` elements."""
    sids = np.asarray(sids, dtype=np.int32)
    keys, owners = [], []
    for start in range(0, len(seqs), _BUILD_CHUNK):
        chunk_keys, chunk_owners = _entries(seqs[start:start + _BUILD_CHUNK], order, prefix)
        keys.append(chunk_keys)
        owners.append(sids[start:start + _BUILD_CHUNK][chunk_owners])
    all_keys = np.concatenate(keys) if keys else np.empty(0, dtype=np.int64)
    all_sids = np.concatenate(owners) if owners else np.empty(0, dtype=np.int32)
    del keys, owners
    by_key = np.argsort(all_keys)
    return Segment(order=order, keys=all_keys[by_key], sids=all_sids[by_key], members=sids)


def _entries(seqs: Sequence[str], order: Order,
             prefix: npt.NDArray[np.int64]) -> tuple[Int64s, npt.NDArray[np.intp]]:
    """(keys, index into `seqs`) of the indexed elements of a chunk of strings."""
    lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
    codes = codes_of(seqs)
    owner = np.repeat(np.arange(len(seqs), dtype=np.int64), lengths)
    by_rank = np.argsort((owner << 24) | (order.ranks(codes) + _RANK_BIAS))
    sorted_codes = codes[by_rank].astype(np.int64)
    del by_rank, codes
    firsts = np.cumsum(lengths) - lengths
    position = np.arange(len(owner), dtype=np.int64) - firsts[owner]
    occurrence = _occurrences(sorted_codes, position == 0)
    length = lengths[owner]
    keep = position < prefix[length]
    ids = (sorted_codes[keep] << _OCCURRENCE_BITS) + np.minimum(occurrence[keep],
                                                                _LAST_OCCURRENCE)
    keys = (ids << _ELEMENT_SHIFT) | (length[keep] << _POSITION_BITS) | position[keep]
    return keys, owner[keep]
