"""The postings of the novelty index: what a query probes must be what the build indexed."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from asyncgen.novelty import postings
from asyncgen.novelty.postings import (
    UNKNOWN_CODE,
    Order,
    Segment,
    Tally,
    build_segment,
    elements,
    lookup_keys,
)

Int32s = npt.NDArray[np.int32]


def hits(segment: Segment, low: npt.NDArray[np.int64], high: npt.NDArray[np.int64]) -> Int32s:
    """The reference the tally is held to: the string ids of the entries with a key in each
    range [low, high), concatenated (a string once per range that holds it)."""
    starts = segment.keys.searchsorted(low).tolist()
    stops = segment.keys.searchsorted(high).tolist()
    found = [segment.sids[start:stop] for start, stop in zip(starts, stops, strict=True)]
    return np.concatenate(found) if found else np.empty(0, dtype=np.int32)


def count_hits(found: Int32s, least: int) -> tuple[Int32s, Int32s]:
    """The reference: (ids found at least `least` times, how many times), by id."""
    counted = sorted((sid, count) for sid, count in Counter(found.tolist()).items()
                     if count >= least)
    return (np.array([sid for sid, _ in counted], dtype=np.int32),
            np.array([count for _, count in counted], dtype=np.int32))


def random_order(rng: random.Random, codes: int) -> Order:
    """A random total order of the first `codes` code points."""
    frequency = np.array([rng.randrange(50) for _ in range(codes)], dtype=np.int64)
    return Order.by_frequency(frequency)


def indexed_elements(seq: str, order: Order) -> list[int]:
    """The element ids the build indexes for one string, in position order."""
    prefix = np.full(len(seq) + 1, len(seq), dtype=np.int64)  # index every element
    segment = build_segment(np.array([7], dtype=np.int32), [seq], order, prefix)
    positions = segment.keys & ((1 << postings._POSITION_BITS) - 1)
    assert sorted(positions.tolist()) == list(range(len(seq)))
    assert set(segment.sids.tolist()) == {7}
    ids = segment.keys >> postings._ELEMENT_SHIFT
    return ids[np.argsort(positions)].tolist()


@pytest.mark.parametrize("seed", range(40))
def test_a_candidate_takes_its_elements_as_the_build_does(seed: int) -> None:
    """Same ranks (tabled codes, codes newer than the order, repeats past 63 occurrences)."""
    rng = random.Random(seed)
    tabled = rng.randrange(1, 30)
    order = random_order(rng, tabled)
    alphabet = [chr(code) for code in range(1, tabled + 6)]  # some codes past the table
    seq = "".join(rng.choice(alphabet[:rng.randrange(1, len(alphabet))])
                  for _ in range(rng.choice([1, 5, 20, 140])))
    assert elements(seq, order, len(seq)).tolist() == indexed_elements(seq, order)
    size = rng.randrange(len(seq) + 1)
    assert elements(seq, order, size).tolist() == indexed_elements(seq, order)[:size]


def test_occurrences_past_63_share_one_element() -> None:
    order = random_order(random.Random(2), 4)
    seq = "\x01" * 100 + "\x02\x03"
    ids = elements(seq, order, len(seq))
    assert ids.tolist() == indexed_elements(seq, order)
    ones = ids[(ids >> postings._OCCURRENCE_BITS) == 1] & 63
    assert ones.tolist() == list(range(63)) + [63] * 37


def test_unknown_tokens_come_first_and_find_nothing() -> None:
    order = random_order(random.Random(1), 10)
    seq = "\x03" + chr(UNKNOWN_CODE) + "\x05" + chr(UNKNOWN_CODE)
    segment = build_segment(np.array([0], dtype=np.int32), ["\x03\x05\x03"], order,
                            np.full(4, 3, dtype=np.int64))
    ids = elements(seq, order, 4)
    assert (ids[:2] >> postings._OCCURRENCE_BITS).tolist() == [UNKNOWN_CODE] * 2
    low, high = lookup_keys(ids[:2], np.array([3, 3]), np.array([3, 3]))
    assert len(hits(segment, low, high)) == 0
    low, high = lookup_keys(ids[2:], np.array([3, 3]), np.array([3, 3]))
    assert hits(segment, low, high).tolist() == [0, 0]  # \x03 and \x05, both in string 0


@pytest.mark.parametrize("seed", range(20))
def test_hits_are_the_entries_in_each_range(seed: int) -> None:
    """Every (element, length, position < bound) range gives the ids of exactly the strings
    that hold the element at such a position, once per range."""
    rng = random.Random(seed)
    order = random_order(rng, 8)
    seqs = ["".join(chr(rng.randrange(1, 9)) for _ in range(rng.randrange(1, 12)))
            for _ in range(60)]
    sids = np.arange(100, 160, dtype=np.int32)
    prefix = np.array([rng.randrange(n + 1) for n in range(13)], dtype=np.int64)
    segment = build_segment(sids, seqs, order, prefix)
    held = {sid: list(enumerate(elements(seq, order, int(prefix[len(seq)])).tolist()))
            for sid, seq in zip(sids.tolist(), seqs, strict=True)}
    queries = [(rng.choice([e for pairs in held.values() for _, e in pairs] or [1]),
                rng.randrange(1, 12), rng.randrange(0, 13)) for _ in range(30)]
    ids, lengths, bounds = (np.array(column, dtype=np.int64) for column in zip(*queries,
                                                                               strict=True))
    found = hits(segment, *lookup_keys(ids, lengths, bounds))
    expected = [sid for element, n, bound in queries
                for sid, seq in zip(sids.tolist(), seqs, strict=True) if len(seq) == n
                for position, held_element in held[sid]
                if held_element == element and position < bound]
    assert sorted(found.tolist()) == sorted(expected)


def random_segment(rng: random.Random, first: int, strings: int) -> tuple[
        postings.Segment, list[int]]:
    """A segment of random strings with ids from `first`, and the element ids it holds."""
    order = random_order(rng, 8)
    seqs = ["".join(chr(rng.randrange(1, 9)) for _ in range(rng.randrange(1, 12)))
            for _ in range(strings)]
    prefix = np.array([rng.randrange(n + 1) for n in range(13)], dtype=np.int64)
    segment = build_segment(np.arange(first, first + strings, dtype=np.int32), seqs, order,
                            prefix)
    held = sorted({e for seq in seqs for e in elements(seq, order, len(seq)).tolist()})
    return segment, held


def random_ranges(rng: random.Random, held: list[int], sort: bool) -> tuple[
        npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Ranges a query might probe, in key order (as a phase's, per position) or not."""
    queries = [(rng.choice(held), rng.randrange(1, 12), rng.randrange(0, 13))
               for _ in range(rng.randrange(0, 40))]
    if sort:
        queries.sort()
    ids, lengths, bounds = (np.array([query[i] for query in queries], dtype=np.int64)
                            for i in range(3))
    return lookup_keys(ids, lengths, bounds)


def assert_counted(found: tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]],
                   probed: list[npt.NDArray[np.int32]], least: int) -> None:
    """The tally's survivors are count_hits' (counts capped at 15), most counted first."""
    ids, counts = found
    expected_ids, expected_counts = count_hits(np.concatenate(probed), least)
    assert dict(zip(ids.tolist(), counts.tolist(), strict=True)) == dict(
        zip(expected_ids.tolist(), np.minimum(expected_counts, 15).tolist(), strict=True))
    assert len(ids) == len(expected_ids)
    assert counts.tolist() == sorted(counts.tolist(), reverse=True)


@pytest.mark.parametrize("seed", range(30))
def test_a_tally_counts_as_count_hits_does(seed: int) -> None:
    """Over many queries (past the epoch wrap), two segments, ranges sorted or not and a
    `least` that rises once: the tally's survivors are count_hits' of the hits."""
    rng = random.Random(seed)
    segments = [random_segment(rng, 0, 50), random_segment(rng, 50, 70)]
    tally = Tally()
    for _ in range(40):
        tally.start(120 + rng.randrange(3) * 100)
        first, then = sorted(rng.randrange(1, 5) for _ in range(2))
        probed = []
        for least in (first, then):
            for segment, held in segments:
                low, high = random_ranges(rng, held, sort=rng.random() < 0.7)
                tally.add(segment, low, high, least)
                probed.append(hits(segment, low, high))
            if least == first:
                assert_counted(tally.survivors(first, last=False), probed, first)
        assert_counted(tally.survivors(then), probed, then)
        with pytest.raises(ValueError):  # that was the last harvest of this count
            tally.add(*segments[0][:1], *random_ranges(rng, segments[0][1], True), 4)


def test_a_tally_caps_counts_and_notes_a_string_once_per_least() -> None:
    segment = build_segment(np.array([0, 1], dtype=np.int32), ["\x01\x02", "\x03"],
                            random_order(random.Random(0), 4), np.full(3, 2, dtype=np.int64))
    ids = elements("\x01", segment.order, 1)
    low, high = lookup_keys(np.repeat(ids, 40), np.full(40, 2), np.full(40, 2))
    tally = Tally()
    tally.start(2)
    tally.add(segment, low, high, 15)  # string 0 in 40 ranges: noted once, counted 15
    tally.add(segment, low, high, 15)
    assert [part.tolist() for part in tally.survivors(15)] == [[0], [15]]


def test_a_tally_refuses_a_least_that_falls_or_rises_twice() -> None:
    segment, held = random_segment(random.Random(3), 0, 10)
    low, high = random_ranges(random.Random(4), held, sort=True)
    tally = Tally()
    tally.start(10)
    tally.add(segment, low, high, 2)
    with pytest.raises(ValueError):
        tally.add(segment, low, high, 1)
    with pytest.raises(ValueError):
        tally.survivors(1)
    tally.add(segment, low, high, 3)
    with pytest.raises(ValueError):
        tally.add(segment, low, high, 4)
    with pytest.raises(ValueError):
        tally.add(segment, low, high, 16)
    assert tally.start(10) == tally.starts == 2


def test_the_kernels_compile_where_no_cache_can_be_written(tmp_path: Path) -> None:
    """A read-only install with a read-only home (numba finds no cache locator): the imports
    compiles in memory instead of failing. Runs in a mount namespace of its own, as root."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs unshare and root for a read-only bind mount")
    root = tmp_path / "ro"
    shutil.copytree(Path(postings.__file__).parents[1], root / "asyncgen",
                    ignore=shutil.ignore_patterns("__pycache__"))
    script = (f"mount --bind {root} {root} && mount -o remount,bind,ro {root} || exit 77; "
              f"touch {root}/probe 2>/dev/null && exit 78; "
              f"exec {sys.executable} -W error -c "
              "'import asyncgen.novelty.postings as p; print(p.__file__)'")
    environment = {**os.environ, "HOME": str(root), "XDG_CACHE_HOME": str(root / "cache"),
                   "PYTHONPATH": str(root)}
    environment.pop("NUMBA_CACHE_DIR", None)
    done = subprocess.run(["unshare", "-m", "sh", "-c", script], env=environment, cwd=root,
                          capture_output=True, text=True, timeout=120)
    if done.returncode in (77, 78):
        pytest.skip("no read-only bind mount here")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(root / "asyncgen" / "novelty" / "postings.py")
