"""Money with a caching provider, end to end: the client's recorded cost against the
simulator's books (the provider's bill), and the cached prompt tokens both report.

These are the issue's "done when" runs, small: `--max-requests 400` drains (no request is
left in flight), so every billed request was seen by the client.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from asyncgen.cli import main
from asyncgen.sim.books import fetch_totals
from tests.conftest import sim_process

KEY_VARS = ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "ASYNCGEN_API_KEY")
RUN = ["--log-format", "none", "--max-requests", "400", "--target-instructions", "100000",
       "--max-concurrency", "32"]


@pytest.fixture(autouse=True)
def _no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in KEY_VARS:
        monkeypatch.delenv(var, raising=False)


def _run_and_report(out: Path, url: str, capsys: pytest.CaptureFixture[str],
                    *extra: str) -> dict[str, Any]:
    assert main(["run", "--out", str(out), "--provider", "sim", "--base-url", url, *RUN,
                 *extra]) == 0
    capsys.readouterr()
    assert main(["report", str(out), "--json"]) == 0
    report: dict[str, Any] = orjson.loads(capsys.readouterr().out)
    finished = orjson.loads((out / "events.jsonl").read_bytes().splitlines()[-1])
    assert finished["event"] == "run.finished" and finished["reason"] == "max_requests"
    return report


def test_openai_like_cache_at_10_percent_client_cost_equals_the_bill(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tokens only in usage (no usage.cost): the client prices cached tokens itself."""
    with sim_process("--no-usage-cost", "--price-in", "0.50", "--price-cached", "0.05",
                     "--price-out", "1.50") as url:
        report = _run_and_report(tmp_path / "out", url, capsys, "--price-in", "0.50",
                                 "--price-cached", "0.05", "--price-out", "1.50")
        books = fetch_totals(url)
    assert books["pending"] == 0 and 300 <= books["requests"] <= 400
    assert report["cost_usd"] == pytest.approx(books["billed_usd"], rel=0.005)
    cache = report["prompt_cache"]["total"]
    assert cache["cached_tokens"] == books["cached_tokens"] > 0
    assert cache["prompt_tokens"] == books["prompt_tokens"]
    assert books["cached_tokens"] >= 0.5 * books["prompt_tokens"], cache
    assert cache["saved_usd"] == pytest.approx(books["cached_tokens"] * 0.45e-6, rel=1e-6)


def test_openrouter_like_usage_cost_with_no_prices_configured_equals_the_bill(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """usage.cost in every response, a model the price table does not know."""
    with sim_process("--style", "openrouter") as url:
        report = _run_and_report(tmp_path / "out", url, capsys, "--model", "vendor/unpriced-1")
        books = fetch_totals(url)
    assert books["pending"] == 0 and books["requests"] >= 300
    assert report["cost_usd"] == pytest.approx(books["billed_usd"], rel=0.005)
    assert report["prompt_cache"]["total"]["cached_tokens"] == books["cached_tokens"] > 0
    assert report["prompt_cache"]["total"]["saved_usd"] == 0.0  # no price: nothing to compare
