"""Immutable postings of the ROUGE-L prefix index: one flat sorted array per segment.

A segment indexes a batch of pool token strings (one character per token, see
`asyncgen.similarity`) under a fixed total order of tokens, an `Order`. Each string is
written as elements (token, i-th occurrence) sorted by that order, rarest first, and its
first few elements (how many depends on its length) become entries

    key = element << 26 | length << 13 | position,   slot

in one int64 array sorted by key, beside an array of slots (string ids renumbered by length).
All entries of one element and one length sit together ordered by position, so "strings of
length n holding element e within their first b elements" is one slice, found by two binary
searches (`Segment.survivors`, over every (element, length, bound) a query asks for).

Segments never change once built: a background thread may build one while the event loop
queries the others, and an order change only needs the next build to use the new order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["MAX_INDEXED", "UNKNOWN_CODE", "Order", "Segment", "build_segment", "elements",
           "lookup_keys"]

_POSITION_BITS = _LENGTH_BITS = 13
MAX_INDEXED = 1 << _LENGTH_BITS  # strings this long or longer are not indexed (scored by scan)
_OCCURRENCE_BITS = 6  # occurrences past 63 share one element id (more survivors, never fewer)
_ELEMENT_SHIFT = _POSITION_BITS + _LENGTH_BITS
UNKNOWN_CODE = 0x10FFFF  # similarity._UNKNOWN: a candidate token no pool string holds
_NEW_RANK = -(1 << 22)  # codes handed out after the order was made rank first, by code
_UNKNOWN_RANK = -(1 << 23)  # ... and unknown tokens before everything
_RANK_BIAS = 1 << 23  # makes every rank non-negative and below 2**24
_BAND_READ = 4  # counts are read back hit by hit below 1/this of the band, else scanned
_BUILD_CHUNK = 1 << 16  # strings whose elements are sorted in one numpy pass

Int64s = npt.NDArray[np.int64]
Int32s = npt.NDArray[np.int32]
Intps = npt.NDArray[np.intp]


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


def elements(seq: str, order: Order, size: int) -> tuple[Int64s, Int64s]:
    """(element id, code) of a candidate's first `size` elements under `order`; unknown
    tokens come first and have id -1."""
    codes = codes_of([seq])
    ranked = np.argsort(order.ranks(codes), kind="stable")[:size]
    chosen = codes[ranked].astype(np.int64)
    occurrence = _occurrences(chosen, np.zeros(len(chosen), dtype=np.bool_))
    ids = (chosen << _OCCURRENCE_BITS) + np.minimum(occurrence, (1 << _OCCURRENCE_BITS) - 1)
    ids[chosen == UNKNOWN_CODE] = -1
    return ids, chosen


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
    low = np.where(ids >= 0, low, 0)
    high = np.where(ids >= 0, low + bounds, 0)
    return low, high


@dataclass(frozen=True, slots=True, eq=False)
class Segment:
    """The indexed prefixes of a batch of strings, under one order (see the module doc).

    Strings sit in slots ordered by length, so the strings a candidate can pass (lengths
    within a band) fill a run of slots, and counting hits per slot stays within it."""

    order: Order
    keys: Int64s  # sorted
    slots: Intps  # the slot of each key's string (intp: numpy indexes fastest with it)
    members: Int32s  # slot -> string id (live ones at build time, shortest first)
    lengths: npt.NDArray[np.int16]  # slot -> token count
    starts: npt.NDArray[np.intp]  # length n -> its first slot (up to the longest + 1)
    counts: npt.NDArray[np.uint8]  # scratch: hits per slot, all 0 between queries

    def __len__(self) -> int:
        return len(self.members)

    def survivors(self, low: Int64s, high: Int64s, positions: list[int], shared: Int32s,
                  band: tuple[int, int], least: int) -> Int32s:
        """String ids with entries in at least `shared[length]` of the candidate's element
        groups: the ranges [low, high) of one element (equal `positions`) are one group,
        and a string has entries in at most one range of a group (it has one length).
        Every range is of a length in `band` (low <= n < high), and `least` is the least
        `shared` of those lengths."""
        groups = self._probe(low, high, positions)
        if not groups:
            return np.empty(0, dtype=np.int32)
        counts = self.counts
        saturate = len(groups) >= 255  # a uint8 count could wrap: stop counting at 4
        found = 0
        for group in groups:
            if saturate:
                counts[group] = np.minimum(counts[group], 3) + 1
            else:
                counts[group] += 1
            found += len(group)
        lengths, starts = self.lengths, self.starts
        top = len(starts) - 1
        first, last = int(starts[min(band[0], top)]), int(starts[min(band[1], top)])
        slots: npt.NDArray[np.integer[Any]]
        if found * _BAND_READ < last - first:  # few hits: read them back, not the band
            hits = np.concatenate(groups) if len(groups) > 1 else groups[0]
            slots = np.sort(hits[counts[hits] >= least])
            slots = slots[np.not_equal(slots, np.roll(slots, 1)) | (np.arange(len(slots)) == 0)]
            enough = counts[slots] >= shared[lengths[slots]]
            counts[hits] = 0
            slots = slots[enough]
        else:
            window = counts[first:last]
            slots = np.flatnonzero(window >= least) + first
            enough = window[slots - first] >= shared[lengths[slots]]
            window[:] = 0
            slots = slots[enough]
        chosen: Int32s = self.members[slots]
        return chosen

    def _probe(self, low: Int64s, high: Int64s, positions: list[int]) -> list[Intps]:
        """Slots of the entries with a key in each range, one array per run of equal
        `positions`."""
        keys, slots = self.keys, self.slots
        starts = keys.searchsorted(low).tolist()
        stops = keys.searchsorted(high).tolist()
        groups: list[Intps] = []
        group: list[Intps] = []
        previous = -1
        for at in np.flatnonzero(np.not_equal(starts, stops)).tolist():
            position = positions[at]
            if position != previous and group:
                groups.append(group[0] if len(group) == 1 else np.concatenate(group))
                group = []
            previous = position
            group.append(slots[starts[at]:stops[at]])
        if group:
            groups.append(group[0] if len(group) == 1 else np.concatenate(group))
        return groups


def build_segment(sids: Int32s, seqs: Sequence[str], order: Order,
                  prefix: npt.NDArray[np.int64]) -> Segment:
    """Index strings (`seqs[i]` has id `sids[i]`, every length below MAX_INDEXED and below
    len(prefix)) under `order`, each under its first `prefix[length]` elements."""
    lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
    by_length = np.argsort(lengths, kind="stable")
    slot_of = np.empty(len(seqs), dtype=np.intp)
    slot_of[by_length] = np.arange(len(seqs), dtype=np.intp)
    keys, owners = [], []
    for start in range(0, len(seqs), _BUILD_CHUNK):
        chunk = seqs[start:start + _BUILD_CHUNK]
        chunk_keys, chunk_owners = _entries(chunk, order, prefix)
        keys.append(chunk_keys)
        owners.append(slot_of[start:start + _BUILD_CHUNK][chunk_owners])
    all_keys = np.concatenate(keys) if keys else np.empty(0, dtype=np.int64)
    all_slots = np.concatenate(owners) if owners else np.empty(0, dtype=np.intp)
    del keys, owners
    by_key = np.argsort(all_keys)
    sorted_lengths = lengths[by_length]
    top = int(sorted_lengths[-1]) + 2 if len(seqs) else 1
    return Segment(order=order, keys=all_keys[by_key], slots=all_slots[by_key],
                   members=np.asarray(sids, dtype=np.int32)[by_length],
                   lengths=sorted_lengths.astype(np.int16),
                   starts=np.searchsorted(sorted_lengths, np.arange(top)).astype(np.intp),
                   counts=np.zeros(len(seqs), dtype=np.uint8))


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
    ids = (sorted_codes[keep] << _OCCURRENCE_BITS) + np.minimum(
        occurrence[keep], (1 << _OCCURRENCE_BITS) - 1)
    keys = (ids << _ELEMENT_SHIFT) | (length[keep] << _POSITION_BITS) | position[keep]
    return keys, owner[keep]
