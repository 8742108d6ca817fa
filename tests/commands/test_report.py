"""`asyncgen report`: Table 1, funnel, usage, latency, errors and runs on a known dataset."""

from __future__ import annotations

import argparse
import random
import re
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from asyncgen.commands import report
from asyncgen.errors import UsageError
from asyncgen.jsonl import JsonlFile
from asyncgen.novelty.pool import Task
from asyncgen.rundir import tally
from asyncgen.rundir.tasks import load_tasks

# Four tasks; word counts are in the comments, expected figures are computed by hand below.
TASKS: list[dict[str, Any]] = [
    {
        "id": "task-000001",
        "instruction": "Classify the sentiment of the review.",  # 6 words
        "is_classification": True,
        "instances": [
            {"input": "I loved it.", "output": "Positive"},  # 3 / 1
            {"input": "Terrible service.", "output": "Negative"},
        ],  # 2 / 1
        "most_similar": {"Rate the movie review.": 0.4, "Classify the tweet.": 0.55},
        "avg_similarity_score": 0.2,
        "most_similar_seed": {"Rate the movie review.": 0.4},
    },
    {
        "id": "task-000002",
        "instruction": "Write a haiku about autumn.",  # 5 words
        "is_classification": False,
        "instances": [{"input": "", "output": "Leaves fall softly down"}],  # empty / 4
        "most_similar": {},
        "avg_similarity_score": 0.0,
    },
    {
        "id": "task-000003",
        "instruction": "Translate the sentence into French.",  # 5 words
        "is_classification": False,
        "instances": [
            {"input": "Good morning", "output": "Bonjour"},  # 2 / 1
            {"input": "  \n", "output": "Salut tout le monde"},
        ],  # blank / 4
        "most_similar": {"Translate to German.": 0.3},
        "avg_similarity_score": 0.1,
        "most_similar_seed": {"Translate to German.": 0.3},
    },
    {
        "id": "task-000004",
        "instruction": "Is the number even?",  # 4 words
        "is_classification": True,
        "instances": [
            {"input": "4", "output": "Yes"},  # 1 / 1
            {"input": "7", "output": "No"},  # 1 / 1
            {"input": "", "output": "Need a number"},
        ],  # empty / 3
        "most_similar": {"Is it prime?": 0.25},
        "avg_similarity_score": 0.1,
    },
]


def ev(event: str, ts: str, **fields: Any) -> dict[str, Any]:
    return {"event": event, "timestamp": f"2026-11-21T{ts}Z", "level": "info", **fields}


def completed(stage: str, ts: str, latency: float, pt: int, ct: int, cost: float) -> dict[str, Any]:
    return ev(
        "request.completed",
        ts,
        stage=stage,
        model="sim-1",
        status=200,
        attempt=1,
        latency_ms=latency,
        prompt_tokens=pt,
        completion_tokens=ct,
        cost_usd=cost,
    )


# Two runs appended to one file (the second resumed the first).
EVENTS: list[dict[str, Any]] = [
    ev("run.started", "08:00:00", run_id="run-a", config={}),
    completed("instructions", "08:00:01", 900.0, 500, 300, 0.0007),
    ev("candidate.parsed", "08:00:01", count=6),
    ev("task.rejected", "08:00:01", reason="similar", instruction="x", score=0.8),
    ev("task.rejected", "08:00:01", reason="similar", instruction="y", score=0.9),
    ev("task.rejected", "08:00:01", reason="keyword", instruction="Draw a cat"),
    ev("task.admitted", "08:00:01", id="task-000001"),
    ev("task.admitted", "08:00:01", id="task-000002"),
    ev("task.admitted", "08:00:01", id="t-lost"),
    completed("classify", "08:00:02", 10.0, 1000, 1, 0.0005),
    completed("classify", "08:00:02", 20.0, 1000, 1, 0.0005),
    completed("classify", "08:00:02", 30.0, 1000, 1, 0.0005),
    ev("task.rejected", "08:00:02", reason="classify_failed", instruction="z"),
    ev(
        "request.retry",
        "08:00:03",
        stage="instances",
        error_kind="rate_limit",
        status=429,
        attempt=1,
        wait_s=1.0,
    ),
    ev(
        "request.retry",
        "08:00:04",
        stage="instances",
        error_kind="rate_limit",
        status=429,
        attempt=2,
        wait_s=2.0,
    ),
    ev(
        "request.failed",
        "08:00:05",
        stage="instances",
        error_kind="timeout",
        status=None,
        attempt=3,
        final=True,
    ),
    completed("instances", "08:00:06", 400.0, 800, 200, 0.0007),
    completed("instances", "08:00:06", 200.0, 800, 200, 0.0007),
    ev("task.committed", "08:00:06", id="task-000001", instances=2, is_classification=True),
    ev("task.committed", "08:00:06", id="task-000002", instances=1, is_classification=False),
    ev("run.progress", "08:00:07", committed=2, target=4),
    ev(
        "run.finished",
        "08:01:00",
        reason="signal",
        committed=2,
        requests=6,
        cost_usd=0.0036,
        elapsed_s=60.0,
    ),
    ev("run.started", "09:00:00", run_id="run-b", config={}),
    completed("instructions", "09:00:01", 1100.0, 500, 300, 0.0007),
    ev("candidate.parsed", "09:00:01", count=4),
    ev("task.rejected", "09:00:01", reason="length", instruction="Hi"),
    ev("task.admitted", "09:00:01", id="task-000003"),
    ev("task.admitted", "09:00:01", id="task-000004"),
    ev("task.admitted", "09:00:01", id="t-empty"),
    ev("classify.unparseable", "09:00:02", instruction="Hmm"),
    ev(
        "request.failed",
        "09:00:02",
        stage="classify",
        error_kind="bad_request",
        status=400,
        attempt=1,
        final=True,
    ),
    ev("task.rejected", "09:00:03", reason="no_instances", instruction="w"),
    completed("instances", "09:00:04", 600.0, 800, 200, 0.0007),
    ev("task.committed", "09:00:04", id="task-000003", instances=2, is_classification=False),
    ev("task.committed", "09:00:04", id="task-000004", instances=3, is_classification=True),
    ev(
        "run.finished",
        "09:00:30",
        reason="target",
        committed=4,
        requests=2,
        cost_usd=0.0014,
        elapsed_s=30.0,
    ),
]


def jsonl(items: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(item) + b"\n" for item in items)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    (out / "tasks.jsonl").write_bytes(jsonl(TASKS))
    (out / "events.jsonl").write_bytes(jsonl(EVENTS))
    return out


def tasks() -> list[Task]:
    return [Task.from_json(t) for t in TASKS]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="asyncgen report")
    report.add_arguments(parser)
    return parser.parse_args(argv)


def run_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert report.main(parse([*argv, "--json"])) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # exactly one JSON object
    result: dict[str, Any] = orjson.loads(out)
    return result


def test_table1_on_known_tasks() -> None:
    assert report.table1(tasks()) == {
        "instructions": 4,
        "classification_instructions": 2,
        "non_classification_instructions": 2,
        "instances": 8,
        "instances_with_empty_input": 3,  # "", "  \n", ""
        "avg_instruction_words": (6 + 5 + 5 + 4) / 4,
        "avg_nonempty_input_words": (3 + 2 + 2 + 1 + 1) / 5,
        "avg_output_words": (1 + 1 + 4 + 1 + 4 + 1 + 1 + 3) / 8,
    }


def test_table1_of_nothing_has_no_averages() -> None:
    t1 = report.table1([])
    assert t1["instructions"] == 0 and t1["avg_output_words"] is None


def test_funnel_and_rejections() -> None:
    funnel = report.build_report(tasks(), EVENTS)["funnel"]
    assert funnel["candidates_parsed"] == 10
    assert funnel["admitted"] == 6
    assert funnel["classified"] == 5  # one classify_failed
    assert funnel["with_instances"] == 4  # one no_instances
    assert funnel["committed"] == 4
    assert funnel["in_flight_at_stop"] == 0
    assert funnel["acceptance_rate"] == pytest.approx(0.4)
    assert funnel["rejected"] == {
        "similar": 2,
        "keyword": 1,
        "classify_failed": 1,
        "length": 1,
        "no_instances": 1,
    }
    assert list(funnel["rejected"])[0] == "similar"  # most frequent first
    assert funnel["rejected_total"] == 6
    assert funnel["rejected_at_step"] == {"admitted": 4, "classified": 1, "with_instances": 1}


def test_item_error_at_classify_is_lost_before_classified() -> None:
    events = [
        ev("task.admitted", "08:00:00", id="a"),
        ev("task.admitted", "08:00:00", id="b"),
        ev("task.rejected", "08:00:01", reason="item_error", stage="classify", instruction="a"),
        ev("task.rejected", "08:00:01", reason="item_error", instruction="b"),
    ]
    funnel = report.build_report([], events)["funnel"]
    assert (funnel["classified"], funnel["with_instances"]) == (1, 0)


def test_requests_tokens_cost_per_stage() -> None:
    result = report.build_report(tasks(), EVENTS)
    by_stage = result["requests"]["by_stage"]
    assert list(by_stage) == ["instructions", "classify", "instances"]
    assert by_stage["instructions"] == {
        "requests": 2,
        "prompt_tokens": 1000,
        "completion_tokens": 600,
        "cost_usd": 0.0014,
    }
    assert by_stage["classify"] == {
        "requests": 3,
        "prompt_tokens": 3000,
        "completion_tokens": 3,
        "cost_usd": 0.0015,
    }
    assert by_stage["instances"] == {
        "requests": 3,
        "prompt_tokens": 2400,
        "completion_tokens": 600,
        "cost_usd": 0.0021,
    }
    assert result["requests"]["total"] == {
        "requests": 8,
        "prompt_tokens": 6400,
        "completion_tokens": 1203,
        "cost_usd": 0.005,
    }
    assert result["cost_usd"] == 0.005
    assert result["cost_per_instruction_usd"] == pytest.approx(0.005 / 4)


def test_tiny_costs_are_not_rounded_away() -> None:
    events = [completed("classify", "08:00:00", 5.0, 10, 1, 1e-7) for _ in range(10)]
    assert report.build_report([], events)["cost_usd"] == pytest.approx(1e-6, rel=1e-9)


def test_latency_percentiles_per_stage() -> None:
    latency = report.build_report(tasks(), EVENTS)["latency_ms"]
    assert latency["classify"] == {"count": 3, "p50": 20.0, "p95": 29.0, "p99": pytest.approx(29.8)}
    assert latency["instructions"]["p50"] == 1000.0  # between 900 and 1100
    assert latency["instances"]["p50"] == 400.0
    assert latency["all"]["count"] == 8


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 50, None),
        ([7.0], 99, 7.0),
        ([10.0, 20.0, 30.0, 40.0], 50, 25.0),
        ([40.0, 10.0, 30.0, 20.0], 50, 25.0),  # order does not matter
        ([float(v) for v in range(1, 101)], 50, 50.5),
        ([float(v) for v in range(1, 101)], 95, 95.05),
        ([float(v) for v in range(1, 101)], 99, 99.01),
        ([1.0, 2.0], 0, 1.0),
        ([1.0, 2.0], 100, 2.0),
    ],
)
def test_percentile(values: list[float], q: float, expected: float | None) -> None:
    result = tally.percentile(values, q)
    assert result == (pytest.approx(expected) if expected is not None else None)


def test_errors_by_kind() -> None:
    errors = report.build_report(tasks(), EVENTS)["errors"]
    assert errors["by_kind"] == {
        "rate_limit": {"retries": 2, "failed": 0, "failed_final": 0},
        "bad_request": {"retries": 0, "failed": 1, "failed_final": 1},
        "timeout": {"retries": 0, "failed": 1, "failed_final": 1},
    }
    assert (errors["retries"], errors["failed"], errors["classify_unparseable"]) == (2, 2, 1)


def test_runs_are_counted_and_aggregated() -> None:
    runs = report.build_report(tasks(), EVENTS)["runs"]
    assert runs["count"] == 2
    assert runs["elapsed_s"] == 90.0
    first, second = runs["list"]
    assert (first["run_id"], first["reason"], first["committed"], first["requests"]) == (
        "run-a",
        "signal",
        2,
        6,
    )
    assert first["cost_usd"] == 0.0036  # summed exactly, not 0.0036000000000000003
    assert (second["run_id"], second["reason"], second["committed"]) == ("run-b", "target", 2)


def test_unfinished_run_takes_elapsed_from_timestamps() -> None:
    events = [ev("run.started", "10:00:00", run_id="r"), ev("run.progress", "10:00:42")]
    (run,) = report.build_report([], events)["runs"]["list"]
    assert (run["finished"], run["reason"], run["elapsed_s"]) == (False, None, 42.0)


def test_timestamps_without_zone_are_utc() -> None:
    events = [
        ev("run.started", "10:00:00", run_id="r"),
        {"event": "run.progress", "timestamp": "2026-11-21T10:00:05"},
    ]
    (run,) = report.build_report([], events)["runs"]["list"]
    assert run["elapsed_s"] == 5.0


def test_late_and_early_events_do_not_invent_runs() -> None:
    events = [
        completed("classify", "07:59:59", 5.0, 10, 1, 0.001),  # before any run.started
        ev("run.started", "08:00:00", run_id="r"),
        ev("run.finished", "08:00:10", reason="target", elapsed_s=10.0),
        completed("classify", "08:00:11", 5.0, 10, 1, 0.001),
    ]  # logged after finishing
    runs = report.build_report([], events)["runs"]
    assert runs["count"] == 2  # an anonymous segment for the orphan, then "r"
    anonymous, named = runs["list"]
    assert (anonymous["run_id"], anonymous["requests"]) == (None, 1)
    assert (named["run_id"], named["requests"], named["elapsed_s"]) == ("r", 1, 10.0)


def test_committed_count_mismatch_is_warned() -> None:
    result = report.build_report(tasks()[:3], EVENTS)
    assert any("4 task.committed events but 3 tasks" in w for w in result["warnings"])
    assert report.build_report(tasks(), EVENTS)["warnings"] == []


def test_main_json_is_one_object(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_json([str(run_dir)], capsys)
    assert result["dir"] == str(run_dir)
    assert result["table1"]["instances"] == 8
    assert result["funnel"]["committed"] == 4
    assert result["runs"]["count"] == 2
    assert result["warnings"] == []


def test_main_text_tables(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert report.main(parse([str(run_dir)])) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  # of instructions +4$", out, re.M)
    assert re.search(r"^  ave\. non-empty input length \(in words\) +1\.8$", out, re.M)
    assert re.search(r"^  candidates parsed +10 +100\.0%$", out, re.M)
    assert re.search(r"^  committed +4 +40\.0%$", out, re.M)
    assert re.search(r"^  total +8 +6,400 +1,203 +\$0\.0050$", out, re.M)
    assert "Runs: 2, 90.0 s in total" in out
    # columns are aligned: the counts of the funnel's five steps end in the same column
    rows = out.split("Funnel")[1].splitlines()[2:7]
    ends = {m.end(1) for row in rows if (m := re.match(r"^  \D+?  +([\d,]+)", row))}
    assert len(rows) == 5 and len(ends) == 1, rows


def test_text_renders_an_empty_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "tasks.jsonl").write_bytes(b"")
    assert report.main(parse([str(tmp_path)])) == 0
    out = capsys.readouterr().out
    assert "events.jsonl: not found" in out
    assert re.search(r"^  ave\. output length \(in words\) +-$", out, re.M)


def test_torn_last_line_is_skipped(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with (run_dir / "tasks.jsonl").open("ab") as f:
        f.write(b'{"id": "task-000005", "instruction": "Half wri')
    with (run_dir / "events.jsonl").open("ab") as f:
        f.write(b'{"event": "task.comm')
    result = run_json([str(run_dir)], capsys)
    assert result["table1"]["instructions"] == 4
    assert result["funnel"]["committed"] == 4
    assert len(result["warnings"]) == 2
    assert all("torn last line" in w for w in result["warnings"])
    assert any("tasks.jsonl, line 5" in w for w in result["warnings"])


def test_last_line_without_newline_but_whole_is_kept(tmp_path: Path) -> None:
    (tmp_path / "tasks.jsonl").write_bytes(jsonl(TASKS).rstrip(b"\n"))
    loaded, notes = load_tasks(tmp_path)
    assert len(loaded) == 4 and notes == []


@pytest.mark.parametrize("name", ["tasks.jsonl", "events.jsonl"])
def test_corrupt_middle_line_names_file_and_line(run_dir: Path, name: str) -> None:
    lines = (run_dir / name).read_bytes().splitlines(keepends=True)
    lines[1] = b'{"oops": \n'
    (run_dir / name).write_bytes(b"".join(lines))
    with pytest.raises(UsageError, match=rf"{name}, line 2: corrupt line, not valid JSON"):
        report.main(parse([str(run_dir)]))


def test_complete_but_corrupt_last_line_is_an_error(run_dir: Path) -> None:
    with (run_dir / "tasks.jsonl").open("ab") as f:
        f.write(b"not json\n")
    with pytest.raises(UsageError, match=r"tasks\.jsonl, line 5"):
        report.main(parse([str(run_dir)]))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"[1, 2]\n", "expected a JSON object"),
        (b'{"instruction": 3, "is_classification": true, "instances": []}\n', "'instruction'"),
        (
            b'{"instruction": "x", "is_classification": true, "instances": [{"input": 1}]}\n',
            "each instance",
        ),
        (b'{"instruction": "x", "instances": []}\n', "'is_classification'"),
    ],
)
def test_bad_task_records(tmp_path: Path, line: bytes, message: str) -> None:
    (tmp_path / "tasks.jsonl").write_bytes(jsonl(TASKS[:1]) + line)
    with pytest.raises(UsageError, match=re.escape(message)):
        load_tasks(tmp_path)


def test_blank_lines_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n\n   \n{"a": 2}\n')
    assert [obj["a"] for _, obj in JsonlFile(path)] == [1, 2]


def test_missing_dir_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(UsageError, match=re.escape(f"{missing}: no such directory")):
        report.main(parse([str(missing)]))


def test_dir_without_tasks_jsonl(tmp_path: Path) -> None:
    (tmp_path / "events.jsonl").write_bytes(jsonl(EVENTS))
    with pytest.raises(UsageError, match=re.escape(f"{tmp_path}: no tasks.jsonl")):
        report.main(parse([str(tmp_path)]))


def test_file_as_dir(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(UsageError, match="not a directory"):
        report.main(parse([str(tmp_path / "f")]))


def test_figure4_scores_and_lengths() -> None:
    # the most similar seed, not pool instruction; tasks without the field are left out
    assert report.similarity_scores(tasks()) == [0.4, 0.3]
    lengths = report.length_distributions(tasks())
    assert lengths == {
        "instruction": [6, 5, 5, 4],
        "input": [3, 2, 2, 1, 1],
        "output": [1, 1, 4, 1, 4, 1, 1, 3],
    }


def test_plots_without_matplotlib_is_a_usage_error(
    run_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails as if not installed
    plots = tmp_path / "plots"
    with pytest.raises(UsageError) as info:
        report.main(parse([str(run_dir), "--plots", str(plots)]))
    assert str(info.value) == "matplotlib is not installed; pip install 'asyncgen[plots]'"
    assert capsys.readouterr().out == ""
    assert not plots.exists()


def test_plots_are_written(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    plots = tmp_path / "plots" / "nested"
    result = run_json([str(run_dir), "--plots", str(plots)], capsys)
    names = sorted(p.name for p in plots.iterdir())
    assert names == ["figure4_rouge.png", "figure5_lengths.png"]
    for name in names:
        assert (plots / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert result["plots"] == [str(plots / "figure4_rouge.png"), str(plots / "figure5_lengths.png")]


def test_latency_counts_give_the_percentiles_of_the_values() -> None:
    """The tally keeps latencies as counts per value (bounded state): the same figures."""
    rng = random.Random(3)
    for size in (1, 2, 3, 10, 257):
        values = [round(rng.choice([rng.uniform(1, 5), rng.uniform(1, 900)]), 1)
                  for _ in range(size)]
        counted = tally.Latencies()
        for value in values:
            counted.add(value)
        for q in (0, 1, 50, 95, 99, 100):
            assert counted.percentile(q) == tally.percentile(values, q)
    assert tally.Latencies().percentile(50) is None
