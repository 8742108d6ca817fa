"""Prompt-cache usage per stage, folded from request events (for run.progress and the report).

Every billed request event (`request.completed`, and `request.retry`/`request.failed` of a
billed response) carries `prompt_tokens`, `cached_tokens` (of those, served from the
provider's prefix cache) and, when the price is known, `cache_saved_usd`. The share is
cached / prompt tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_NANO = 10**9  # saved USD are summed as integer nano-dollars: sums are exact and ordered


class CacheUsage:
    """Prompt tokens, cached prompt tokens and USD saved, per stage."""

    __slots__ = ("by_stage",)

    def __init__(self) -> None:
        self.by_stage: dict[str, list[int]] = {}  # stage -> [prompt, cached, saved nano-USD]

    def __repr__(self) -> str:
        return f"<CacheUsage {self.by_stage}>"

    def add(self, event: Mapping[str, Any]) -> None:
        """Count one request event's tokens (an event without usage adds nothing)."""
        prompt = event.get("prompt_tokens")
        if not isinstance(prompt, int) or prompt <= 0:
            return
        row = self.by_stage.setdefault(str(event.get("stage") or "unknown"), [0, 0, 0])
        row[0] += prompt
        cached = event.get("cached_tokens")
        row[1] += cached if isinstance(cached, int) and cached > 0 else 0
        saved = event.get("cache_saved_usd")
        if isinstance(saved, int | float) and saved > 0:
            row[2] += round(saved * _NANO)

    def totals(self, stages: list[str] | None = None) -> dict[str, Any]:
        """{prompt_tokens, cached_tokens, share, saved_usd} over the stages (default all)."""
        rows = [self.by_stage[s] for s in (self.by_stage if stages is None else stages)]
        return _row([sum(row[i] for row in rows) for i in range(3)])

    def progress_fields(self) -> dict[str, Any]:
        """`cached_tokens`, `cache_hit_share`, `cache_saved_usd` and `cache` (per stage)."""
        total = self.totals()
        return {
            "cached_tokens": total["cached_tokens"],
            "cache_hit_share": total["share"],
            "cache_saved_usd": total["saved_usd"],
            "cache": {stage: _row(row) for stage, row in self.by_stage.items()},
        }


def _row(row: list[int]) -> dict[str, Any]:
    prompt, cached, saved = row
    return {
        "prompt_tokens": prompt,
        "cached_tokens": cached,
        "share": round(cached / prompt, 4) if prompt else None,
        "saved_usd": saved / _NANO,
    }
