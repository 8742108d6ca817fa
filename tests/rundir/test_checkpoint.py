"""The run's checkpointer: OUT/summary.json kept current from its own folds of the files while
they are appended to, so what a kill -9 leaves to fold is short, and every read is the same."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from asyncgen.cli import main
from asyncgen.commands import run
from asyncgen.rundir import checkpoint, layout, summary, tally
from asyncgen.rundir import journal as worklog
from asyncgen.rundir.checkpoint import Checkpointer
from tests.conftest import report_json, sim_process

pytestmark = pytest.mark.usefixtures("no_keys")


@pytest.fixture(scope="module")
def sim() -> Iterator[str]:
    with sim_process("--seed", "5") as url:
        yield url


def _task(n: int) -> dict[str, Any]:
    return {"id": f"task-{n:06d}", "instruction": f"Write poem number {n} about rivers.",
            "is_classification": n % 2 == 0,
            "instances": [{"input": "" if n % 3 else "a b", "output": "one two three"}],
            "run_id": "r1"}


def _event(n: int) -> dict[str, Any]:
    return {"event": "request.completed", "stage": "generate", "latency_ms": float(n),
            "cost_usd": 0.001, "prompt_tokens": 10, "completion_tokens": 5,
            "timestamp": "2026-12-07T00:00:00Z"}


def _line(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj) + b"\n"


def _append(path: Path, data: bytes) -> None:
    with path.open("ab") as f:
        f.write(data)


def test_steps_fold_only_whole_lines_and_readers_trust_what_they_cover(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path
    tasks, events, journal = (out / layout.TASKS_FILE, out / layout.EVENTS_FILE,
                              out / layout.JOURNAL_FILE)
    tasks.write_bytes(b"".join(_line(_task(n)) for n in range(3)))
    events.write_bytes(b"".join(_line(_event(n)) for n in range(5)))
    journal.write_bytes(_line(worklog.admitted("Open job.")))
    keeper = Checkpointer(out, summary.fold_tasks(out), None)
    keeper.step()
    # lines being written: the step leaves them for the next one
    half = _line(_task(3))
    _append(tasks, half[:30])
    _append(events, _line(_event(5)) + _line(_event(6))[:10])
    _append(journal, _line(worklog.failed("Open job.", "no_instances"))[:-1])  # no newline yet
    monkeypatch.setattr(summary, "BLOCK", 64)  # lines across blocks: the same bytes hashed
    keeper.step(limit=200)  # about 200 bytes of each file at most: the rest next time
    part = summary.read_summary(out)
    assert part["tasks"]["lines"] == 3 and part["events"]["lines"] < 7
    assert part["journal"]["lines"] == 1
    _append(tasks, half[30:] + _line(_task(4)))
    _append(events, _line(_event(6))[10:])
    _append(journal, b"\n")
    for _ in range(10):
        keeper.step(limit=200)
    assert summary.fold_tasks(out).from_summary == tasks.stat().st_size
    # the summary keeps the counts, not the instructions: they are read from the lines
    assert b"Write poem" not in (out / summary.SUMMARY_FILE).read_bytes()
    assert summary.fold_tasks(out).fold.instructions == [_task(n)["instruction"]
                                                         for n in range(5)]
    assert tally.fold_events(out).from_summary == events.stat().st_size
    assert worklog.fold(journal, summary.read_summary(out)["journal"]).from_summary == \
        journal.stat().st_size
    kept = report_json(out)
    backlog = worklog.read(journal, set(), summary.read_summary(out)["journal"])
    (out / layout.SUMMARY_FILE).unlink()
    assert report_json(out) == kept  # the same figures folded from the start
    assert worklog.read(journal, set()) == backlog
    assert kept["table1"]["instructions"] == 5 and backlog.failed == {"Open job.": "no_instances"}
    assert kept["requests"]["total"]["requests"] == 7


def test_a_journal_part_that_no_longer_matches_is_ignored(tmp_path: Path) -> None:
    journal = tmp_path / layout.JOURNAL_FILE
    journal.write_bytes(_line(worklog.admitted("A.")) + _line(worklog.admitted("B.")))
    part = worklog.fold(journal).part(worklog.fold(journal).fold.state())
    journal.write_bytes(_line(worklog.admitted("A.")) + _line(worklog.admitted("C.")))
    folded = worklog.fold(journal, part)
    assert folded.from_summary == 0 and set(folded.fold.jobs) == {"A.", "C."}
    part["fold"] = {"candidates": []}  # not a fold: ignored, not trusted
    journal.write_bytes(_line(worklog.admitted("A.")) + _line(worklog.admitted("B.")))
    assert worklog.fold(journal, part).from_summary == 0


def test_a_killed_run_leaves_a_checkpoint_the_next_reads_start_from(
    tmp_path: Path, sim: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that never settles (what a kill -9 skips) leaves the last checkpoint: the next
    run and `report` fold only what came after it, and read the same figures."""
    out = tmp_path / "out"
    monkeypatch.setattr(checkpoint, "INTERVAL_S", 0.02)
    monkeypatch.setattr(checkpoint, "SHARE", 0)  # every 20 ms, however long a step took

    def killed_after_a_checkpoint(out: Path, checkpointer: Checkpointer | None = None) -> None:
        """No settling, as after a kill -9 that came just after a periodic checkpoint (the
        run's lines after it, such as run.finished, are left for the readers)."""
        assert checkpointer is not None and checkpointer.steps > 0  # the periodic ones ran
        checkpointer.step()

    monkeypatch.setattr(run, "settle", killed_after_a_checkpoint)
    assert main(["run", "--out", str(out), "--provider", "sim", "--base-url", sim,
                 "--target-instructions", "80", "--log-format", "none"]) == 0
    parts = summary.read_summary(out)
    assert {"tasks", "events", "journal"} <= set(parts)
    tasks = summary.fold_tasks(out, parts)
    assert 0 < tasks.from_summary <= tasks.length  # the checkpoint matched the file
    assert tally.fold_events(out, parts).from_summary > 0
    assert worklog.fold(out / layout.JOURNAL_FILE, parts["journal"]).from_summary > 0
    fast = report_json(out)
    (out / layout.SUMMARY_FILE).unlink()
    assert report_json(out) == fast


def test_a_periodic_step_pauses_for_the_loop_and_folds_the_same(
    tmp_path: Path, sim: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A polite step (the periodic one) sleeps, the GIL released, every PAUSE_EVERY lines it
    folds, and writes the very summary an unpaced step writes."""
    out = tmp_path / "out"
    assert main(["run", "--out", str(out), "--provider", "sim", "--base-url", sim,
                 "--target-instructions", "30", "--log-format", "none"]) == 0
    (out / layout.SUMMARY_FILE).unlink()
    unpaced = Checkpointer(out, checkpoint._empty(summary.TaskFold()), None)
    unpaced.step()
    expected = (out / layout.SUMMARY_FILE).read_bytes()
    (out / layout.SUMMARY_FILE).unlink()
    pauses: list[float] = []
    monkeypatch.setattr(checkpoint, "PAUSE_EVERY", 3)
    monkeypatch.setattr(checkpoint.time, "sleep", pauses.append)
    paced = Checkpointer(out, checkpoint._empty(summary.TaskFold()), None)
    paced.step(polite=True)
    assert (out / layout.SUMMARY_FILE).read_bytes() == expected
    folded = [paced.tasks.lines, paced.journal.lines]
    assert paced.events is not None
    lines = sum(folded) + paced.events.lines
    assert lines > 30 and len(pauses) >= lines // 3 - 3  # per file: every third line
    assert set(pauses) == {checkpoint.PAUSE_S}
