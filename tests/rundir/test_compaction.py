"""The work journal compacted at checkpoints (rundir.journal, asyncgen.rundir.checkpoint): what
recovery no longer needs goes, what it needs stays, and a kill at any moment of it leaves a
journal the next run reads to the same backlog."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from asyncgen import jsonl
from asyncgen.cli import main
from asyncgen.rundir import journal as worklog
from asyncgen.rundir import layout, spend, summary
from asyncgen.rundir.checkpoint import Checkpointer
from tests.workers.test_pipeline import QUIET, _assert_valid_pool, _tasks

pytestmark = pytest.mark.usefixtures("no_keys")


def _line(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)


def _task(text: str, n: int) -> dict[str, Any]:
    return {"id": f"task-{n:06d}", "instruction": text, "is_classification": False,
            "instances": [{"input": "", "output": "x"}], "run_id": "r1"}


def _directory(out: Path) -> tuple[worklog.Journal, set[str]]:
    """40 jobs admitted and labelled, 30 of them committed, 3 failed, one batch not judged."""
    out.mkdir()
    texts = [f"Write poem number {n} about rivers." for n in range(40)]
    records = [worklog.candidates("b1", texts[:5]), worklog.judged("b1")]
    for text in texts:
        records += [worklog.admitted(text), worklog.labelled(text, False)]
    records += [worklog.failed(text, "no_instances") for text in texts[30:33]]
    records.append(worklog.candidates("b2", ["Open candidate one.", "Open candidate two."]))
    (out / layout.JOURNAL_FILE).write_bytes(b"".join(map(_line, records)))
    (out / layout.TASKS_FILE).write_bytes(b"".join(_line(_task(t, n))
                                                   for n, t in enumerate(texts[:30])))
    work = worklog.Journal(out / layout.JOURNAL_FILE)
    work.open()
    return work, set(texts[:30])


def _keeper(out: Path, work: worklog.Journal, monkeypatch: pytest.MonkeyPatch) -> Checkpointer:
    monkeypatch.setattr(worklog, "COMPACT_BYTES", 1000)
    keeper = Checkpointer(out, summary.fold_tasks(out), None, work=work)
    keeper._compacted = 0
    keeper._settled_upto = 0  # as if its 30 tasks were committed while it ran
    keeper.step()
    assert keeper._compactable()
    return keeper


def test_compaction_keeps_what_recovery_needs_and_the_lines_appended_meanwhile(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    work, committed = _directory(out)
    path = out / layout.JOURNAL_FILE
    before = worklog.read(path, committed)
    size = path.stat().st_size
    keeper = _keeper(out, work, monkeypatch)
    covered = keeper.journal.length
    staged = keeper._stage()
    late = worklog.admitted("Admitted while the lines were staged.")
    work.write(late)  # between the thread's staging and the swap on the loop
    work.compact(staged, covered)
    work.write(worklog.labelled("Admitted while the lines were staged.", True))
    work.close()
    after = worklog.read(path, committed)
    assert path.stat().st_size < size / 3
    assert after.failed == before.failed and after.candidates == before.candidates
    assert set(after.jobs) == set(before.jobs) | {late["instruction"]}
    assert after.jobs[late["instruction"]].is_classification is True
    assert not staged.exists()


@pytest.mark.parametrize("crash", ["staged", "appended", "replaced"])
def test_a_kill_at_any_step_of_compaction_leaves_a_journal_read_the_same(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash: str) -> None:
    """The process dies after staging, after copying the appended lines, or right after the
    swap: the journal on disk (old or new) reads to the same backlog, as does a resume."""
    out = tmp_path / "out"
    work, committed = _directory(out)
    path = out / layout.JOURNAL_FILE
    old = path.read_bytes()
    before = worklog.read(path, committed)
    keeper = _keeper(out, work, monkeypatch)

    class Killed(BaseException):
        pass

    def die(*args: Any, **kwargs: Any) -> None:
        raise Killed

    if crash == "appended":
        monkeypatch.setattr(jsonl.os, "replace", die)
    elif crash == "replaced":  # the old handle's close comes after the swap
        monkeypatch.setattr(jsonl.LineAppender, "close", die)
    with pytest.raises(Killed):
        if crash == "staged":
            keeper._stage()
            raise Killed
        anyio.run(keeper._compact)
    if crash == "replaced":
        assert len(path.read_bytes()) < len(old)
    else:
        assert path.read_bytes() == old
    after = worklog.read(path, committed, summary.read_summary(out).get("journal"))
    assert after == before


HURRIED = """
import sys
from asyncgen.rundir import checkpoint
from asyncgen.rundir import journal
from asyncgen.rundir import spend
checkpoint.INTERVAL_S = 0.05
journal.COMPACT_BYTES = spend.COMPACT_BYTES = 3000
from asyncgen.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_kill_9_while_the_journal_is_compacted_again_and_again(tmp_path: Path) -> None:
    """Checkpoints every 50 ms compacting the work and spend journals past 3 KB: killed at
    random moments, each resume goes on, and the last one reaches the target with a valid pool
    and a spend figure that never went down."""
    out = tmp_path / "out"
    argv = [sys.executable, "-c", HURRIED, "run", "--out", str(out),
            "--target-instructions", "150", *QUIET]
    rng = random.Random(5)
    figures = [0.0]
    for kill in range(1, 4):
        proc = subprocess.Popen(argv, env={**os.environ})
        deadline = time.monotonic() + 30
        tasks = out / "tasks.jsonl"
        while time.monotonic() < deadline and proc.poll() is None and (
                not tasks.exists() or tasks.read_bytes().count(b"\n") < 30 * kill):
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.3))  # somewhere in the checkpoints' cycle
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        figures.append(spend.recover(out / layout.SPEND_FILE).figure_usd)
    assert figures == sorted(figures) and figures[-1] > 0
    assert main(["run", "--out", str(out), "--target-instructions", "150", *QUIET]) == 0
    tasks = _tasks(out)
    assert len(tasks) >= 150
    _assert_valid_pool(tasks)
    assert len({task["id"] for task in tasks}) == len(tasks)


def _spend_file(path: Path) -> spend.SpendJournal:
    """Two runs: the first killed with 5 reservations open, the second with 2 open so far."""
    journal = spend.SpendJournal(path)
    spent = 0.0
    for run, (reserved, settled) in (("run-1", (50, 45)), ("run-2", (30, 28))):
        journal.started(run, round(spent, 9))
        for n in range(1, reserved + 1):
            journal.reserved(n, 0.01, round(spent, 9), 0.01 * n)
        for n in range(1, settled + 1):
            spent += 0.004
            journal.settled(n, 0.004, round(spent, 9), round(0.01 * (reserved - n), 9))
    return journal


def test_spend_compaction_keeps_the_totals_and_the_open_reservations(tmp_path: Path) -> None:
    path = tmp_path / layout.SPEND_FILE
    journal = _spend_file(path)
    before = spend.recover(path)
    size = path.stat().st_size
    staged, covered = spend.stage(path)
    journal.settled(29, 0.004, 0.5, 0.01)  # written between the staging and the swap
    journal.compact(staged, covered)
    journal.reserved(31, 0.01, 0.5, 0.02)  # the handle writes to the new file
    journal.close()
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert path.stat().st_size < size / 5
    assert [line.get("run") for line in lines if "run" in line] == ["run-1", "run-2"]
    assert [line["r"] for line in lines if "r" in line] == [29, 30, 31]
    assert lines[-3]["s"] == 28 and (lines[-3]["spent"], lines[-3]["held"]) == (
        before.spent_usd, before.held_usd)  # the totals as they were, before the later lines
    assert spend.recover(path) == spend.Recovered(0.5, 0.02, journaled=True)


@pytest.mark.parametrize("crash", ["staged", "appended", "replaced"])
def test_a_kill_during_spend_compaction_leaves_the_same_figure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash: str) -> None:
    path = tmp_path / layout.SPEND_FILE
    journal = _spend_file(path)
    old = path.read_bytes()
    before = spend.recover(path)

    class Killed(BaseException):
        pass

    def die(*args: Any, **kwargs: Any) -> None:
        raise Killed

    if crash == "appended":
        monkeypatch.setattr(jsonl.os, "replace", die)
    elif crash == "replaced":
        monkeypatch.setattr(jsonl.LineAppender, "close", die)
    with pytest.raises(Killed):
        staged, covered = spend.stage(path)
        if crash == "staged":
            raise Killed
        journal.compact(staged, covered)
    assert (path.read_bytes() == old) == (crash != "replaced")
    assert spend.recover(path) == before
