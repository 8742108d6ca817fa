"""OpenRouter's key check (`GET /api/v1/key`): what the key has left, said once at the start of
a run, and whether the run can be paid for at all. Pure functions over the decoded body.

    {"data": {"limit": 10.0 | null, "limit_remaining": 7.5 | null, "usage": 2.5,
              "is_free_tier": false, ...}}

`limit_remaining` null means no credit limit on the key. Free-model (`:free`) requests are
capped per day: FREE_TIER_DAILY on a free-tier key, PAID_TIER_DAILY once credits were bought.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

FREE_TIER_DAILY = 50
PAID_TIER_DAILY = 1000


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """The parts of the key check a run uses."""

    limit_usd: float | None
    remaining_usd: float | None
    usage_usd: float | None
    free_tier: bool

    @property
    def free_daily_requests(self) -> int:
        """Requests a day to `:free` models this key gets."""
        return FREE_TIER_DAILY if self.free_tier else PAID_TIER_DAILY


def _money(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def parse_key(body: Any) -> KeyInfo | None:
    """The key info of a `GET /key` body, or None when it is not one."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        return None
    return KeyInfo(
        limit_usd=_money(data.get("limit")),
        remaining_usd=_money(data.get("limit_remaining")),
        usage_usd=_money(data.get("usage")),
        free_tier=data.get("is_free_tier") is True,
    )


def describe(info: KeyInfo) -> str:
    """One line for the console."""
    credit = ("no credit limit" if info.remaining_usd is None
              else f"${info.remaining_usd:.4g} of ${info.limit_usd or 0:.4g} credit left")
    used = "" if info.usage_usd is None else f", ${info.usage_usd:.4g} used"
    tier = "free tier" if info.free_tier else "paid tier"
    return f"OpenRouter key: {credit}{used}; {tier}, {info.free_daily_requests} free-model " \
        "requests a day"


def refusal(info: KeyInfo, *, budget_usd: float, model: str) -> str | None:
    """Why the run cannot start with this key (None: it can)."""
    remaining = info.remaining_usd
    if model.endswith(":free"):
        return None  # free models cost nothing; their daily cap is a 429 the client knows
    if remaining is not None and remaining <= 0:
        return "the OpenRouter key has no credit left (add credit or raise the key's limit)"
    if remaining is not None and budget_usd > remaining:
        return (f"--budget-usd {budget_usd:g} is more than the ${remaining:.4g} of credit the "
                "OpenRouter key has left: lower the budget or add credit")
    return None
