"""The event fold's state in summary.json: latencies kept exact in a few bytes per value."""

from __future__ import annotations

import random

import orjson

from asyncgen.rundir.tally import EventTally, Latencies, tally_from_state, tally_state


def _round_trip(tally: EventTally) -> tuple[EventTally, bytes]:
    state = orjson.dumps(tally_state(tally))
    return tally_from_state(orjson.loads(state)), state


def test_latencies_in_tenths_come_back_exact_in_a_third_of_the_bytes() -> None:
    rng = random.Random(1)
    values = [round(rng.lognormvariate(1.5, 1.2), 1) for _ in range(20_000)] + [0.0, 0.1]
    tally = EventTally()
    tally.latency = {"instances": Latencies()}
    for value in values:
        tally.latency["instances"].add(value)
    back, _ = _round_trip(tally)
    assert back.latency["instances"].counts == tally.latency["instances"].counts
    for q in (50, 95, 99, 100):
        assert back.latency["instances"].percentile(q) == tally.latency["instances"].percentile(q)
    pairs = orjson.dumps(sorted(tally.latency["instances"].counts.items()))
    kept = orjson.dumps(tally_state(tally)["tally"]["latency"])
    assert b"$tenths" in kept and len(kept) < 0.5 * len(pairs)


def test_latencies_not_in_tenths_are_kept_as_pairs() -> None:
    tally = EventTally()
    tally.latency = {"classify": Latencies([(1.25, 2), (3.0, 1)])}
    back, state = _round_trip(tally)
    assert b"$latency" in state
    assert back.latency["classify"].counts == tally.latency["classify"].counts
