"""Cached prompt tokens per stage, from request events: run.progress fields and the report."""

from __future__ import annotations

from typing import Any

import pytest

from asyncgen.commands import report, report_text
from asyncgen.observe.cache_usage import CacheUsage

EVENTS: list[dict[str, Any]] = [
    {"event": "run.started", "run_id": "r1", "timestamp": "2026-12-01T00:00:00+00:00"},
    {"event": "request.completed", "stage": "classify", "prompt_tokens": 1100,
     "cached_tokens": 1024, "completion_tokens": 1, "cost_usd": 0.0001,
     "cache_saved_usd": 1024 * 0.45e-6, "latency_ms": 5.0},
    {"event": "request.completed", "stage": "classify", "prompt_tokens": 1100,
     "cached_tokens": 0, "completion_tokens": 1, "cost_usd": 0.0006, "latency_ms": 5.0},
    {"event": "request.completed", "stage": "instructions", "prompt_tokens": 200,
     "cached_tokens": 0, "completion_tokens": 100, "cost_usd": 0.0002, "latency_ms": 5.0},
    # a billed retry counts (the provider served it from cache too); an unbilled one adds 0
    {"event": "request.retry", "stage": "instances", "prompt_tokens": 1500,
     "cached_tokens": 1408, "completion_tokens": 3, "cost_usd": 0.0001, "error_kind": "x"},
    {"event": "request.retry", "stage": "instances", "error_kind": "server"},
    # junk is ignored, not fatal
    {"event": "request.completed", "stage": "instances", "prompt_tokens": "many",
     "cached_tokens": -5},
]


def test_cache_usage_per_stage_and_total() -> None:
    usage = CacheUsage()
    for event in EVENTS[1:]:
        usage.add(event)
    fields = usage.progress_fields()
    assert fields["cached_tokens"] == 1024 + 1408
    assert fields["cache_hit_share"] == round(2432 / (2200 + 200 + 1500), 4)
    assert fields["cache_saved_usd"] == pytest.approx(1024 * 0.45e-6)
    assert fields["cache"]["classify"] == {
        "prompt_tokens": 2200, "cached_tokens": 1024, "share": round(1024 / 2200, 4),
        "saved_usd": pytest.approx(1024 * 0.45e-6)}
    assert fields["cache"]["instructions"]["share"] == 0.0


def test_nothing_billed_has_no_share() -> None:
    fields = CacheUsage().progress_fields()
    assert fields["cached_tokens"] == 0 and fields["cache_hit_share"] is None
    assert fields["cache"] == {}


def test_report_has_the_cache_per_stage_in_json_and_text() -> None:
    result = report.build_report([], EVENTS)
    cache = result["prompt_cache"]
    assert list(cache["by_stage"]) == ["instructions", "classify", "instances"]
    assert cache["by_stage"]["instances"]["cached_tokens"] == 1408
    assert cache["total"]["cached_tokens"] == 2432
    assert cache["total"]["prompt_tokens"] == 3900
    text = report_text.render_text({**result, "dir": "x"})
    section = text.split("Prompt cache", 1)[1].split("\n\n", 1)[0]
    assert "classify" in section and "46.5%" in section and "2,432" in section
