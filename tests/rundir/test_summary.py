"""OUT/summary.json: resume and report read the same figures with it, without it, and when
it no longer matches the files (a torn tail, an edited line, another layout)."""

from __future__ import annotations

import hashlib
import select
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from asyncgen.cli import main
from asyncgen.commands import report
from asyncgen.jsonl import JsonlFile
from asyncgen.novelty.pool import Task, TaskStore
from asyncgen.rundir import summary, tally
from asyncgen.rundir.tasks import load_tasks
from tests.conftest import report_json, sim_process

pytestmark = pytest.mark.usefixtures("no_keys")


@pytest.fixture(scope="module")
def sim() -> Iterator[str]:
    with sim_process("--seed", "3") as url:
        yield url


def _run(out: Path, url: str, target: int) -> None:
    assert main(["run", "--out", str(out), "--provider", "sim", "--base-url", url,
                 "--target-instructions", str(target), "--log-format", "none"]) == 0


def _by_full_read(out: Path) -> dict[str, Any]:
    """The report the slow way: every task validated into a Task, every event folded anew."""
    tasks, notes = load_tasks(out)
    events = JsonlFile(out / "events.jsonl")
    spend_usd = report_json(out)["cost_usd"] if (out / "spend.jsonl").exists() else None
    built = report.build_report(tasks, (e for _, e in events), notes=notes, spend_usd=spend_usd)
    if torn := events.torn_note():
        built["warnings"].insert(0, torn)
    return {"dir": str(out), **built}


def test_report_and_resume_read_the_same_with_and_without_the_summary(
    tmp_path: Path, sim: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    _run(out, sim, 120)
    _run(out, sim, 200)  # the second run starts from the first run's summary
    part = summary.read_summary(out)["tasks"]
    assert part["lines"] == len((out / "tasks.jsonl").read_bytes().splitlines())
    monkeypatch.setattr(summary, "BLOCK", 100)  # lines across blocks: the same bytes hashed
    folded = summary.fold_tasks(out)
    assert folded.from_summary == (out / "tasks.jsonl").stat().st_size  # nothing left to fold
    tasks, _ = TaskStore(out / "tasks.jsonl").read()
    assert folded.fold.instructions == [t.instruction for t in tasks]
    assert folded.fold.runs == {t.run_id: t.id for t in reversed(tasks)}
    fast = report_json(out)
    assert fast == _by_full_read(out)
    assert len(fast["runs"]["list"]) == 2 and fast["table1"]["instructions"] >= 200
    (out / "summary.json").unlink()
    assert report_json(out) == fast
    whole = summary.fold_tasks(out)  # folded from the start, lines across blocks
    assert whole.fold == folded.fold and whole.from_summary == 0
    assert whole.sha256 == hashlib.sha256((out / "tasks.jsonl").read_bytes()).hexdigest()


def test_table1_from_the_fold_is_table1_from_the_tasks() -> None:
    lines = [
        {"id": "task-1", "instruction": "Name  three rivers.", "is_classification": True,
         "instances": [{"input": "  ", "output": "Nile Rhine"}, {"input": "Europe", "output": ""}],
         "run_id": "a"},
        {"id": "task-2", "instruction": "Say hi", "is_classification": False,
         "instances": [{"input": "a b c", "output": "hi there you"}], "run_id": "b"},
    ]
    fold = summary.TaskFold()
    for line in lines:
        fold.add(line, "test")
    tasks = [Task.from_json(line) for line in lines]
    assert fold.table1() == report.table1(tasks)
    assert summary.TaskFold().table1() == report.table1([])
    assert fold.runs == {"a": "task-1", "b": "task-2"}


def test_a_summary_that_no_longer_matches_is_ignored(tmp_path: Path, sim: str) -> None:
    out = tmp_path / "out"
    _run(out, sim, 60)
    kept = (out / "summary.json").read_bytes()
    # a killed run's tail: more lines after the summary, the last one torn
    lines = (out / "tasks.jsonl").read_bytes().splitlines(keepends=True)
    with (out / "tasks.jsonl").open("ab") as f:
        f.write(lines[0].replace(b"task-000001", b"task-000999").replace(b'"instruction":"',
                                                                           b'"instruction":"X'))
        f.write(lines[1][:40])
    with (out / "events.jsonl").open("ab") as f:
        f.write(b'{"event":"task.committed","id":"task-000999","timestamp":"2026-12-02T00:00:00Z"}\n')
        f.write(b'{"event":"request.comp')
    tail = report_json(out)
    assert tail == _by_full_read(out)
    assert any("torn last line" in w for w in tail["warnings"])
    assert summary.fold_tasks(out).from_summary > 0  # the tail was folded from the summary
    # a line inside the covered prefix changed: the summary is ignored, the figures follow
    data = (out / "tasks.jsonl").read_bytes()
    (out / "tasks.jsonl").write_bytes(data.replace(b'"is_classification":false',
                                                   b'"is_classification":true ', 1))
    assert summary.fold_tasks(out).from_summary == 0
    edited = report_json(out)
    assert edited == _by_full_read(out)
    assert edited["table1"]["classification_instructions"] == \
        tail["table1"]["classification_instructions"] + 1
    # another tally layout: its events part is not used
    other = orjson.loads(kept)
    other["events"]["fold"]["layout"] = [0]
    (out / "summary.json").write_bytes(orjson.dumps(other))
    assert tally.fold_events(out).from_summary == 0
    assert report_json(out) == edited


def test_a_bad_line_after_the_summary_is_refused(tmp_path: Path, sim: str) -> None:
    out = tmp_path / "out"
    _run(out, sim, 20)
    with (out / "tasks.jsonl").open("ab") as f:
        f.write(b'{"id":"task-000999","instruction":7,"is_classification":false}\n')
    lines = len((out / "tasks.jsonl").read_bytes().splitlines())
    with pytest.raises(Exception, match=f"line {lines}: field 'instruction'"):
        summary.fold_tasks(out)


def test_a_run_summarises_a_killed_runs_tasks_as_it_starts(tmp_path: Path, sim: str) -> None:
    """After a kill -9, the next run folds the killed run's lines into the summary at once:
    killed again, it leaves the run after it only its own lines to fold."""
    out = tmp_path / "out"
    _run(out, sim, 20)
    lines = (out / "tasks.jsonl").read_bytes().splitlines(keepends=True)
    with (out / "tasks.jsonl").open("ab") as f:  # what a killed run appended
        f.write(lines[-1].replace(b'"instruction":"', b'"instruction":"Again: '))
    size = (out / "tasks.jsonl").stat().st_size
    assert summary.fold_tasks(out).from_summary < size
    with socket.socket() as listener:  # a provider that never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
        run = subprocess.Popen([sys.executable, "-m", "asyncgen", "run", "--out", str(out),
                                "--provider", "sim", "--base-url", url,
                                "--target-instructions", "100", "--log-format", "none"])
        try:
            assert select.select([listener], [], [], 30)[0], "no request within 30 s"
        finally:
            run.kill()
            run.wait()
    folded = summary.fold_tasks(out)
    assert folded.from_summary == size and len(folded.fold) == len(lines) + 1
