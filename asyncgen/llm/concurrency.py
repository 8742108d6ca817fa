"""How many requests to keep in flight: a pure policy over what is known, time passed in.

Two modes, chosen by whether a rate limit is known (configured, or learnt from headers):

- **limit** — Little's law: in flight = rate × latency. The target is the binding limit in
  requests per second × the measured latency (per stage, mixed as the stages are sent) ×
  HEADROOM, plus LITTLE_SLACK. Before any latency is measured, LATENCY_GUESS_S stands in.
- **probe** — no limit known: grow as TCP does while successes return and latency stays flat
  (slow start: +1 per success, i.e. doubling per round trip; hold while any stage's latency is
  LATENCY_RISE above its baseline).

In both modes a rate-limit signal (a 429 that is a real limit) cuts the window at most once per
latency window, to what the measured success rate needs (Little's law again), between
DECREASE_FLOOR and DECREASE_CEILING of the current target; recovery then closes about half
of the gap to the pre-cut window per round trip (at least +1), so it is back within a few
round trips, and past it probes upward again, slowly at first and faster the further it gets
(CUBIC's shape). Sporadic 429s (noise) do not cut, unless they grow to NOISE_SHARE of responses.
Everything is capped at `ceiling` (`--max-concurrency`) and floored at MIN_CONCURRENCY.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

MIN_CONCURRENCY = 1
INITIAL_WINDOW = 16
"""Probe mode starts here (slow start doubles it every round trip)."""
HEADROOM = 1.5
"""Slots above Little's law: latency varies request to request, and a slot is held while a send
waits for the rate limiter, so the cap must never be what holds the rate down."""
LITTLE_SLACK = 4
LATENCY_GUESS_S = 1.0
"""Stand-in latency until the first response is measured."""
LATENCY_ALPHA = 0.1
"""EWMA weight of a new latency sample (per stage) and of a new response in the stage mix."""
MIN_SAMPLES = 10
"""A stage's first samples are averaged plainly (the EWMA weight is 1/n until LATENCY_ALPHA),
and only then is its baseline taken: one short first answer must not look like the norm."""
LATENCY_RISE = 1.6
"""Probe mode holds growth while a stage's latency EWMA is this far above its baseline."""
BASELINE_DRIFT = 1.003
"""Per sample, a stage's baseline creeps up this much: a provider that got slower for reasons
of its own does not freeze growth for ever."""
DECREASE_FLOOR = 0.5
DECREASE_CEILING = 0.9
"""A cut leaves between half and 90% of the current target."""
RECOVERY_GAIN = 0.7
"""Per success, RECOVERY_GAIN / window of the gap: about half the gap closes per round trip."""
MIN_WINDOW_S = 0.05
"""Shortest latency window (decreases are at most one per window)."""
RATE_WINDOWS = 2.0
"""The success rate is measured over this many latency windows (at least 1 s)."""
NOISE_ALPHA = 0.05
NOISE_SHARE = 0.5
"""Sporadic 429s that make up more than this share of responses are congestion after all ...
"""
NOISE_MIN_SUCCESSES = 5.0
"""... once this many successes (decayed by NOISE_ALPHA per response) are among the responses,
counted from one round trip after the first success: until then the answers are mostly 429s,
since a 429 comes back at once and a completion takes its time (the fast ones first)."""


class ConcurrencyPolicy:
    """The in-flight target and why; feed it events with the time they happened."""

    __slots__ = (
        "ceiling", "rate", "window", "w_max", "decreases", "noise", "_latency", "_base",
        "_samples", "_mix", "_successes", "_decreased_at", "_noise", "_responses", "_started",
        "_first_success_at",
    )

    def __init__(self, ceiling: int, *, rate: float | None = None, now: float = 0.0) -> None:
        if ceiling < MIN_CONCURRENCY:
            raise ValueError(f"ceiling must be >= {MIN_CONCURRENCY}, got {ceiling}")
        self.ceiling = ceiling
        self.rate = rate  # the binding limit, requests per second (None: unknown)
        # probe mode grows from INITIAL_WINDOW; with a known limit Little's law binds instead
        self.window = float(ceiling if rate else min(ceiling, INITIAL_WINDOW))
        self.w_max = math.inf  # the window before the last cut (recovery aims back at it)
        self.decreases = 0
        self.noise = 0  # sporadic 429s seen
        self._latency: dict[str, float] = {}  # stage -> EWMA seconds
        self._base: dict[str, float] = {}  # stage -> baseline (low) latency
        self._samples: dict[str, int] = {}
        self._mix: dict[str, float] = {}  # stage -> EWMA share of responses
        self._successes: deque[float] = deque()  # times, over the rate window
        self._decreased_at = -math.inf
        self._noise = 0.0  # sporadic 429s, decayed by NOISE_ALPHA per response
        self._responses = 0.0  # responses of any kind, decayed alike
        self._started = now
        self._first_success_at: float | None = None

    def __repr__(self) -> str:
        return f"<ConcurrencyPolicy target={self.target} {self.reason()}>"

    # --- what is known ------------------------------------------------------------------

    def latency_s(self) -> float | None:
        """Mean latency of a response, the stages mixed as they are answered (None: none yet)."""
        total = sum(self._mix.values())
        if not total:
            return None
        return sum(self._latency[s] * share for s, share in self._mix.items()) / total

    def window_s(self) -> float:
        """One round trip: the latency window decreases are bounded by."""
        latency = self.latency_s()
        return max(MIN_WINDOW_S, LATENCY_GUESS_S if latency is None else latency)

    def success_rate(self, now: float) -> float | None:
        """Successes per second over the last RATE_WINDOWS round trips (None: too early)."""
        span = max(1.0, RATE_WINDOWS * self.window_s())
        self._prune(now, span)
        if now - self._started < span:
            return None
        return len(self._successes) / span

    def little(self) -> int | None:
        """Little's law's target for the known limit (None without one)."""
        if not self.rate:
            return None
        latency = self.latency_s()
        return math.ceil(self.rate * (LATENCY_GUESS_S if latency is None else latency)
                         * HEADROOM) + LITTLE_SLACK

    def rising(self) -> str | None:
        """The first stage whose latency is LATENCY_RISE above its baseline, if any."""
        for stage, base in self._base.items():
            if self._latency[stage] > base * LATENCY_RISE:
                return stage
        return None

    @property
    def target(self) -> int:
        """Requests allowed in flight now."""
        window = self.window
        little = self.little()
        if little is not None:
            window = min(window, little)
        return max(MIN_CONCURRENCY, min(self.ceiling, int(window)))

    def reason(self) -> str:
        """Why the target is what it is, in a few words."""
        little = self.little()
        target = self.target
        if target >= self.ceiling:
            return "ceiling (--max-concurrency)"
        if little is not None and little <= self.window:
            latency = self.latency_s()
            shown = f"{latency:.2f} s" if latency is not None else f"~{LATENCY_GUESS_S:g} s (guess)"
            return f"little: {self.rate:.1f} req/s x {shown} x {HEADROOM:g}"
        if self.w_max < math.inf and self.window < self.w_max:
            return f"recovering after a rate limit (toward {self.w_max:.0f})"
        if little is not None:
            return f"growing back toward Little's law ({little})"
        if (stage := self.rising()) is not None:
            return f"holding: {stage} latency rising"
        return "probing: no limit known, growing while latency stays flat"

    # --- events ---------------------------------------------------------------------------

    def set_rate(self, rate: float | None) -> None:
        """The binding limit changed (requests per second; None: no limit known)."""
        if rate != self.rate:
            if rate and not self.rate and self.decreases == 0:
                self.window = float(self.ceiling)  # a limit now binds: let Little's law size it
            self.rate = rate

    def paced(self) -> None:
        """A rate limit now paces the sends (an inferred one, `limits.py`): let Little's law
        over it size the window, as for a known limit; forget earlier cuts."""
        self.window = float(self.ceiling)
        self.w_max = math.inf

    def on_success(self, stage: str, latency_s: float, now: float) -> None:
        """A response came back: learn its latency, grow the window."""
        self._learn(stage, max(0.0, latency_s))
        if self._first_success_at is None:
            self._first_success_at = now
        self._successes.append(now)
        self._prune(now, max(1.0, RATE_WINDOWS * self.window_s()))
        self._respond(noise=False)
        self._grow()

    def on_rate_limit(self, now: float) -> bool:
        """A 429 that is a real limit: cut once per latency window. True when it cut."""
        self._respond(noise=False)
        return self._cut(now)

    def on_noise(self, now: float) -> bool:
        """A sporadic 429 (or upstream's): no cut, unless they have become most of the traffic.
        True when it cut."""
        self.noise += 1
        first = self._first_success_at
        if first is None or now - first < self.window_s():
            return False  # answers do not reflect the mix of sends yet: no share to speak of
        self._respond(noise=True)
        successes = self._responses - self._noise
        if successes >= NOISE_MIN_SUCCESSES and self._noise > NOISE_SHARE * self._responses:
            return self._cut(now)
        return False

    def _respond(self, *, noise: bool) -> None:
        keep = 1.0 - NOISE_ALPHA
        self._noise = self._noise * keep + noise
        self._responses = self._responses * keep + 1.0

    def _learn(self, stage: str, latency_s: float) -> None:
        samples = self._samples[stage] = self._samples.get(stage, 0) + 1
        previous = self._latency.get(stage, latency_s)
        latency = self._latency[stage] = previous + max(LATENCY_ALPHA, 1.0 / samples) * (
            latency_s - previous
        )
        if samples >= MIN_SAMPLES:
            base = self._base.get(stage, latency)
            self._base[stage] = min(base * BASELINE_DRIFT, latency)
        for name in self._mix:
            self._mix[name] *= 1.0 - LATENCY_ALPHA
        self._mix[stage] = self._mix.get(stage, 0.0) + LATENCY_ALPHA

    def _grow(self) -> None:
        window = self.window
        if window >= self.ceiling or (self.rate is None and self.rising() is not None):
            return  # at the ceiling, or probing while latency rises: hold
        if self.w_max < math.inf:  # after a cut: close about half the gap to the old window
            # per round trip, then move away from it as fast (concave, then convex)
            step = max(1.0, abs(self.w_max - window) * RECOVERY_GAIN) / window
        else:
            step = 1.0  # slow start: doubles every round trip
        self.window = min(float(self.ceiling), window + step)

    def _cut(self, now: float) -> bool:
        if now - self._decreased_at < self.window_s():
            return False
        current = float(self.target)
        wanted = current * DECREASE_FLOOR
        served = self.success_rate(now)
        latency = self.latency_s()
        if served is not None and latency is not None:
            wanted = served * latency  # what the rate the server lets through needs
        self.window = max(float(MIN_CONCURRENCY),
                          min(current * DECREASE_CEILING, max(current * DECREASE_FLOOR, wanted)))
        self.w_max = current
        self._decreased_at = now
        self.decreases += 1
        return True

    def _prune(self, now: float, span: float) -> None:
        successes = self._successes
        while successes and successes[0] < now - span:
            successes.popleft()

    def stats(self) -> dict[str, Any]:
        """The state behind the target, for run.progress."""
        latency = self.latency_s()
        return {
            "target": self.target,
            "why": self.reason(),
            "window": round(self.window, 2),
            "rate_limit_per_s": None if self.rate is None else round(self.rate, 3),
            "latency_s": None if latency is None else round(latency, 3),
            "latency_by_stage_s": {s: round(v, 3) for s, v in self._latency.items()},
            "decreases": self.decreases,
            "noise_429s": self.noise,
        }
