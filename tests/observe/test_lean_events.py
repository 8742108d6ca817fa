"""--event-detail lean: events.jsonl without the per-candidate texts, the same report figures."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from asyncgen.cli import main
from asyncgen.observe import events
from tests.conftest import report_json
from tests.workers.test_pipeline import QUIET

pytestmark = pytest.mark.usefixtures("no_keys")


def test_a_lean_log_gives_the_same_report_with_fewer_bytes(tmp_path: Path) -> None:
    full = tmp_path / "full"
    assert main(["run", "--out", str(full), "--target-instructions", "60", *QUIET]) == 0
    lean = tmp_path / "lean"
    lean.mkdir()
    for name in ("tasks.jsonl", "fields.jsonl", "spend.jsonl", "asyncgen.json"):
        (lean / name).write_bytes((full / name).read_bytes())
    lines = (full / "events.jsonl").read_bytes().splitlines()
    trimmed = [orjson.dumps(events.lean(orjson.loads(line))) for line in lines]
    (lean / "events.jsonl").write_bytes(b"\n".join(trimmed) + b"\n")
    assert sum(map(len, trimmed)) < 0.8 * sum(map(len, lines))
    figures = report_json(full)
    figures.pop("dir")
    lean_figures = report_json(lean)
    lean_figures.pop("dir")
    assert lean_figures == figures


def test_a_lean_run_writes_no_candidate_text(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["run", "--out", str(out), "--target-instructions", "20",
                 "--event-detail", "lean", *QUIET]) == 0
    logged = [orjson.loads(line) for line in (out / "events.jsonl").read_bytes().splitlines()]
    per_candidate = [e for e in logged if e["event"] in events.LEAN_EVENTS]
    assert per_candidate and not any(set(events.TEXT_FIELDS) & set(e) for e in per_candidate)
    assert any("reason" in e for e in per_candidate if e["event"] == events.TASK_REJECTED)
    answered = [e for e in logged if e["event"] == events.REQUEST_COMPLETED]
    assert answered and not any({"status", "attempt", "level"} & set(e) for e in answered)
    assert all("latency_ms" in e and "cost_usd" in e for e in answered)
    assert report_json(out)["funnel"]["committed"] >= 20
