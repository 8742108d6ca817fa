"""The concurrency policy, table-tested: events in, target and reason out, time passed in."""

from __future__ import annotations

import pytest

from asyncgen.llm import concurrency as c
from asyncgen.llm.concurrency import ConcurrencyPolicy


def answered(policy: ConcurrencyPolicy, n: int, latency_s: float, *, at: float = 0.0,
             stage: str = "instances", every_s: float = 0.0) -> float:
    """`n` successes; returns the time after the last one."""
    now = at
    for _ in range(n):
        policy.on_success(stage, latency_s, now)
        now += every_s
    return now


@pytest.mark.parametrize(
    ("rate", "latency_s", "ceiling", "target", "why"),
    [
        (50.0, 5.0, 1000, 379, "little: 50.0 req/s x 5.00 s x 1.5"),  # 3,000 RPM, 5 s
        (20.0, 5.0, 1000, 154, "little: 20.0 req/s x 5.00 s x 1.5"),  # 1,200 RPM
        (50.0, 0.2, 1000, 19, "little: 50.0 req/s x 0.20 s x 1.5"),
        (50.0, 5.0, 64, 64, "ceiling (--max-concurrency)"),
        (0.1, 0.1, 64, 5, "little: 0.1 req/s x 0.10 s x 1.5"),  # never below the slack
    ],
)
def test_a_known_limit_sizes_the_target_by_littles_law(
    rate: float, latency_s: float, ceiling: int, target: int, why: str
) -> None:
    policy = ConcurrencyPolicy(ceiling, rate=rate)
    answered(policy, 100, latency_s)
    assert policy.target == target
    assert policy.reason() == why


def test_before_any_answer_a_latency_guess_stands_in() -> None:
    policy = ConcurrencyPolicy(1000, rate=50.0)
    assert policy.target == 50 * 1.5 * c.LATENCY_GUESS_S + c.LITTLE_SLACK
    assert "(guess)" in policy.reason()


def test_latency_is_mixed_as_the_stages_are_answered() -> None:
    policy = ConcurrencyPolicy(1000, rate=10.0)
    for _ in range(200):  # three fast classify answers for each slow instances answer
        policy.on_success("classify", 0.5, 0.0)
        policy.on_success("classify", 0.5, 0.0)
        policy.on_success("classify", 0.5, 0.0)
        policy.on_success("instances", 4.5, 0.0)
    latency = policy.latency_s()
    assert latency == pytest.approx(1.5, abs=0.2)  # 3/4 x 0.5 + 1/4 x 4.5
    assert policy.stats()["latency_by_stage_s"] == {"classify": 0.5, "instances": 4.5}


def test_a_limit_learnt_later_lets_littles_law_size_the_window() -> None:
    policy = ConcurrencyPolicy(1000)
    assert policy.target == c.INITIAL_WINDOW and policy.reason().startswith("probing")
    answered(policy, 10, 5.0)
    policy.set_rate(50.0)
    assert policy.target == 379


@pytest.mark.parametrize(
    ("round_trips", "target"),
    [(0, 16), (1, 32), (2, 64), (3, 128), (4, 256), (5, 300)],
)
def test_with_no_limit_known_slow_start_doubles_every_round_trip(
    round_trips: int, target: int
) -> None:
    policy = ConcurrencyPolicy(300)
    for _ in range(round_trips):
        answered(policy, policy.target, 1.0)
    assert policy.target == target


def test_with_no_limit_known_growth_holds_while_latency_rises() -> None:
    policy = ConcurrencyPolicy(1000)
    answered(policy, 10, 1.0)
    held = policy.target
    answered(policy, 40, 3.0)  # the provider slows down as we add load
    assert policy.reason() == "holding: instances latency rising"
    assert policy.target < held + 10  # grew only until the EWMA crossed the rise
    frozen = policy.target
    answered(policy, 40, 3.0)
    assert policy.target == frozen


@pytest.mark.parametrize(
    ("served_per_s", "target_before", "after"),
    [
        (None, 100, 50),  # no success rate measured yet: halve
        (18.0, 100, 90),  # the server lets 18/s through x 5 s = 90: cut to 90
        (15.0, 100, 75),  # ... 75
        (2.0, 100, 50),  # at most halved
        (19.9, 100, 90),  # at least a 10% cut
    ],
)
def test_a_cut_sizes_the_window_for_the_rate_that_gets_through(
    served_per_s: float | None, target_before: int, after: int
) -> None:
    policy = ConcurrencyPolicy(target_before)
    policy.window = float(target_before)
    now = 0.0
    if served_per_s is not None:  # 12 s of answers at this rate, 5 s each
        count = int(12 * served_per_s)
        now = answered(policy, count, 5.0, every_s=1.0 / served_per_s)
    else:
        answered(policy, 5, 5.0)
    assert policy.on_rate_limit(now) is True
    assert policy.target == after
    assert policy.reason().startswith("recovering after a rate limit")


def test_cuts_are_bounded_to_one_per_latency_window() -> None:
    policy = ConcurrencyPolicy(100)
    answered(policy, 5, 2.0)
    policy.window = 100.0
    assert policy.on_rate_limit(10.0) is True
    assert [policy.on_rate_limit(10.0 + dt) for dt in (0.1, 1.0, 1.9)] == [False] * 3
    assert policy.target == 50 and policy.decreases == 1
    assert policy.on_rate_limit(12.0) is True and policy.decreases == 2


def test_recovery_closes_half_the_gap_each_round_trip() -> None:
    policy = ConcurrencyPolicy(1000)
    answered(policy, 5, 1.0)
    policy.window = 200.0
    policy.on_rate_limit(0.0)
    assert policy.target == 100
    for expected in (143, 169):  # a gap of 100 closes by ~43%, then ~45% of the rest
        answered(policy, policy.target, 1.0)
        assert policy.target == pytest.approx(expected, abs=5)


@pytest.mark.parametrize(
    ("pattern", "congested"),
    [
        ("ok " * 9 + "429", False),  # 10%
        ("ok " * 3 + "429", False),  # 25%
        ("ok ok 429", False),  # a third
        ("ok 429 429", True),  # two in three: congestion after all
    ],
)
def test_sporadic_429s_cut_only_when_they_become_most_answers(
    pattern: str, congested: bool
) -> None:
    policy = ConcurrencyPolicy(64)
    answers = pattern.split() * 100
    for n, answer in enumerate(answers):  # ten answers a second, each taking 1 s
        if answer == "429":
            policy.on_noise(n * 0.1)
        else:
            policy.on_success("instances", 1.0, n * 0.1)
    assert (policy.decreases > 0) is congested
    assert policy.decreases <= 30  # at most one per latency window (1 s) over 30 s
    assert policy.noise == answers.count("429")


def test_the_first_answers_being_sporadic_429s_do_not_cut() -> None:
    policy = ConcurrencyPolicy(512, rate=50.0)
    for n in range(60):  # a 429 comes back at once, a completion takes seconds
        policy.on_noise(n * 0.1)
    assert policy.decreases == 0 and policy.target == 79


def test_misuse_fails_fast() -> None:
    with pytest.raises(ValueError, match="ceiling"):
        ConcurrencyPolicy(0)
