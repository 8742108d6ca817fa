"""--event-detail lean (the default): events.jsonl without the per-candidate texts, the
candidates rejected before any spend counted per reason, the same report figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from asyncgen.cli import main
from asyncgen.observe import events
from asyncgen.selfinstruct.parsing import REJECT_REASONS
from tests.conftest import report_json
from tests.workers.test_pipeline import QUIET

pytestmark = pytest.mark.usefixtures("no_keys")


def _logged(out: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in (out / "events.jsonl").read_bytes().splitlines()]


def test_a_lean_log_gives_the_same_report_with_fewer_bytes(tmp_path: Path) -> None:
    full = tmp_path / "full"
    assert main(["run", "--out", str(full), "--target-instructions", "60",
                 "--event-detail", "full", *QUIET]) == 0
    lean = tmp_path / "lean"
    lean.mkdir()
    for name in ("tasks.jsonl", "fields.jsonl", "spend.jsonl", "asyncgen.json"):
        (lean / name).write_bytes((full / name).read_bytes())
    lines = (full / "events.jsonl").read_bytes().splitlines()
    trimmed = [orjson.dumps(event) for event in events.lean_log(map(orjson.loads, lines))]
    (lean / "events.jsonl").write_bytes(b"\n".join(trimmed) + b"\n")
    assert sum(map(len, trimmed)) < 0.75 * sum(map(len, lines))
    grouped = [e for e in map(orjson.loads, trimmed)
               if e["event"] == events.TASK_REJECTED and e.get("count", 1) > 1]
    assert grouped  # some candidates were counted, not listed
    figures = report_json(full)
    figures.pop("dir")
    lean_figures = report_json(lean)
    lean_figures.pop("dir")
    assert lean_figures == figures


def test_a_default_run_writes_no_unpaid_candidate_and_counts_every_one(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["run", "--out", str(out), "--target-instructions", "40", *QUIET]) == 0
    logged = _logged(out)
    rejected = [e for e in logged if e["event"] == events.TASK_REJECTED]
    unpaid = [e for e in rejected if e["reason"] in events.UNPAID_REASONS]
    assert unpaid and all(set(e) == {"reason", "count", "event", "timestamp"} for e in unpaid)
    assert any(e["count"] > 1 for e in unpaid)
    admitted = [e for e in logged if e["event"] == events.TASK_ADMITTED]
    assert admitted and not any(set(events.TEXT_FIELDS) & set(e) for e in admitted)
    answered = [e for e in logged if e["event"] == events.REQUEST_COMPLETED]
    assert answered and not any({"status", "attempt", "level"} & set(e) for e in answered)
    assert all("latency_ms" in e and "cost_usd" in e and "model" in e for e in answered)
    # the live count of every rejection (run.finished, from each event before it is written)
    # is what the counted log gives report
    finished = logged[-1]
    assert finished["event"] == events.RUN_FINISHED
    assert report_json(out)["funnel"]["rejected"] == finished["rejected"]


def test_held_counts_are_written_after_a_second_before_another_kind_and_at_the_end() -> None:
    def rejected(reason: str, at: str, **more: Any) -> dict[str, Any]:
        return {"reason": reason, "instruction": "x", **more, "event": events.TASK_REJECTED,
                "level": "info", "timestamp": at}

    logged = [  # (the clock when it is logged, the event)
        (0.0, rejected("similar", "t1", score=0.8, nearest="y")),
        (0.1, {"instruction": "a", "pool": 9, "event": events.TASK_ADMITTED, "timestamp": "t2"}),
        (0.2, rejected("keyword", "t3")),
        (0.3, {"count": 7, "kept": 6, "format": "numbered", "chat": False,
               "event": events.CANDIDATES_PARSED, "level": "info", "timestamp": "t4"}),
        (0.9, rejected("similar", "t5")),
        (1.0, {"id": "task-1", "instances": 2, "is_classification": False,
               "event": events.TASK_COMMITTED, "level": "info", "timestamp": "t6"}),
        (1.1, rejected("no_instances", "t7")),  # paid for: written with its instruction
        (1.2, rejected("duplicate", "t8")),
        (1.3, {"committed": 1, "event": events.RUN_PROGRESS, "level": "info", "timestamp": "t9"}),
        (1.4, rejected("similar", "t10")),
    ]
    now = 0.0
    leaner = events.Lean(clock=lambda: now)
    written = []
    for now, event in logged:  # noqa: B007 (the clock reads it)
        written += leaner(event)
    assert written + leaner.flush() == [
        {"event": events.TASK_ADMITTED, "timestamp": "t2"},
        {"count": 7, "format": "numbered", "event": events.CANDIDATES_PARSED, "timestamp": "t4"},
        # a second after the first of them: written before the next event
        {"reason": "similar", "count": 2, "event": events.TASK_REJECTED, "timestamp": "t5"},
        {"reason": "keyword", "count": 1, "event": events.TASK_REJECTED, "timestamp": "t3"},
        {"id": "task-1", "event": events.TASK_COMMITTED, "timestamp": "t6"},
        {"reason": "no_instances", "instruction": "x", "event": events.TASK_REJECTED,
         "timestamp": "t7"},
        # before an event of another kind
        {"reason": "duplicate", "count": 1, "event": events.TASK_REJECTED, "timestamp": "t8"},
        {"committed": 1, "event": events.RUN_PROGRESS, "level": "info", "timestamp": "t9"},
        # at the end
        {"reason": "similar", "count": 1, "event": events.TASK_REJECTED, "timestamp": "t10"},
    ]


def test_the_unpaid_reasons_are_post_processing_and_the_filter() -> None:
    assert events.UNPAID_REASONS == {*REJECT_REASONS, "similar", "duplicate"}
