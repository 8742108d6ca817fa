"""The work journal compacted at checkpoints (asyncgen.journal, asyncgen.checkpoint): what
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

from asyncgen import journal as worklog
from asyncgen import summary
from asyncgen.checkpoint import Checkpointer
from asyncgen.cli import main

from .test_pipeline import QUIET, _assert_valid_pool, _tasks

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
    (out / worklog.JOURNAL_FILE).write_bytes(b"".join(map(_line, records)))
    (out / summary.TASKS_FILE).write_bytes(b"".join(_line(_task(t, n))
                                                   for n, t in enumerate(texts[:30])))
    work = worklog.Journal(out / worklog.JOURNAL_FILE)
    work.open()
    return work, set(texts[:30])


def _keeper(out: Path, work: worklog.Journal, monkeypatch: pytest.MonkeyPatch) -> Checkpointer:
    monkeypatch.setattr(worklog, "COMPACT_BYTES", 1000)
    keeper = Checkpointer(out, summary.fold_tasks(out), None, work=work)
    keeper._compacted = 0
    keeper.step()
    assert keeper._compactable()
    return keeper


def test_compaction_keeps_what_recovery_needs_and_the_lines_appended_meanwhile(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    work, committed = _directory(out)
    path = out / worklog.JOURNAL_FILE
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
    path = out / worklog.JOURNAL_FILE
    old = path.read_bytes()
    before = worklog.read(path, committed)
    keeper = _keeper(out, work, monkeypatch)

    class Killed(BaseException):
        pass

    def die(*args: Any) -> None:
        raise Killed

    if crash == "appended":
        monkeypatch.setattr(worklog.os, "replace", die)
    elif crash == "replaced":
        monkeypatch.setattr(worklog, "LineAppender", die)
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
from asyncgen import checkpoint, journal
checkpoint.INTERVAL_S = 0.05
journal.COMPACT_BYTES = 3000
from asyncgen.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_kill_9_while_the_journal_is_compacted_again_and_again(tmp_path: Path) -> None:
    """Checkpoints every 50 ms compacting a journal past 3 KB: killed at random moments, each
    resume goes on, and the last one reaches the target with a valid pool."""
    out = tmp_path / "out"
    argv = [sys.executable, "-c", HURRIED, "run", "--out", str(out),
            "--target-instructions", "150", *QUIET]
    rng = random.Random(5)
    for _ in range(3):
        proc = subprocess.Popen(argv, env={**os.environ})
        time.sleep(rng.uniform(1.5, 3.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert main(["run", "--out", str(out), "--target-instructions", "150", *QUIET]) == 0
    tasks = _tasks(out)
    assert len(tasks) >= 150
    _assert_valid_pool(tasks)
    assert len({task["id"] for task in tasks}) == len(tasks)
