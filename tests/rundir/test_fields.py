"""The similarity fields off the commit path (asyncgen.rundir.fields): commits never wait for them,
fields.jsonl gets every late one, a kill -9 before they are written is completed on resume,
and report and export join them (and say which are missing)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import orjson
import pytest

from asyncgen.cli import main
from asyncgen.errors import UsageError
from asyncgen.novelty.neighbours import Neighbours, PoolScores
from asyncgen.novelty.pool import Task, load_seeds
from asyncgen.rundir import fields, layout
from asyncgen.rundir.tasks import load_tasks
from tests.conftest import OUR_SEEDS, report_json
from tests.novelty.test_neighbours import check
from tests.workers.test_pipeline import QUIET

pytestmark = pytest.mark.usefixtures("no_keys")

# a run whose scanning threads never score: every task is committed without its fields
HELD = """
import sys, anyio
from asyncgen.novelty.neighbours import PoolScores
async def held(self):
    await anyio.sleep_forever()
PoolScores.run = held
from asyncgen.cli import main
from asyncgen.errors import UsageError
sys.exit(main(sys.argv[1:]))
"""


def _lines(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_a_held_fields_pass_holds_back_no_commit(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The scanning threads start only once the stages are done: the run still admits,
    commits every task (none waits), then writes every task's fields, exact."""
    scan = PoolScores.run

    async def late(self: PoolScores) -> None:
        while not self._closed:  # close() sets _wake, as every submit() does
            await self._wake.wait()
            self._wake = anyio.Event()
        await scan(self)

    monkeypatch.setattr(PoolScores, "run", late)
    out = tmp_path / "out"
    assert main(["run", "--out", str(out), "--target-instructions", "20", *QUIET,
                 "--event-detail", "full"]) == 0  # task.admitted with its text
    lines = _lines(out / "tasks.jsonl")
    assert len(lines) >= 20
    assert all(line["avg_similarity_score"] is None for line in lines)  # none waited
    written = _lines(out / layout.FIELDS_FILE)
    assert [line["id"] for line in written if "id" in line] == [line["id"] for line in lines]
    tasks, notes = load_tasks(out)
    assert notes == [] and all(task.scored for task in tasks)
    admitted = [event["instruction"] for event in _lines(out / "events.jsonl")
                if event["event"] == "task.admitted"]
    seeds = [seed.instruction for seed in load_seeds(OUR_SEEDS)]
    for task in (tasks[0], tasks[9], tasks[-1]):  # the pool it was admitted into
        pool = seeds + [str(text) for text in admitted[:admitted.index(task.instruction)]]
        check(task_neighbours(task), task.instruction, pool, len(seeds))
    # compact lines: neighbours named (tasks by place, other texts defined once), and joined
    # into exactly what the task would carry had its fields been ready at its commit
    compact = [line for line in written if "id" in line]
    assert all("near" in line and "most_similar" not in line for line in compact)
    assert any(isinstance(ref, int) for line in compact for ref, _ in line["near"])  # type: ignore[attr-defined]
    defined = [line["text"] for line in written if "name" in line]
    assert len(defined) == len(set(defined)) and set(defined) <= set(seeds) | set(admitted)
    for task in tasks:
        scores = PoolScores(seeds)
        for text in admitted[:admitted.index(task.instruction)]:
            scores.add(str(text))
        inline = task.with_neighbours(scores.neighbours(scores.query(task.instruction)))
        assert task.to_json() == inline.to_json()
        assert list(task.most_similar.items()) == list(inline.most_similar.items())
    finished = _lines(out / "events.jsonl")[-1]
    assert finished["event"] == "run.finished" and finished["fields_missing"] == 0
    assert report_json(out)["fields_missing"] == 0


def task_neighbours(task: Task) -> Neighbours:
    return Neighbours(task.most_similar, task.avg_similarity_score, task.most_similar_seed)


def _killed_before_the_fields(out: Path, target: int, how: int = signal.SIGKILL) -> int:
    """A run whose fields are never computed, sent `how` (kill -9) once it has committed
    `target` and waits for its fields; its exit status."""
    argv = [sys.executable, "-c", HELD, "run", "--out", str(out), "--target-instructions",
            str(target), *QUIET]
    proc = subprocess.Popen(argv, env={**os.environ})
    try:
        deadline = time.monotonic() + 45
        tasks = out / "tasks.jsonl"
        while time.monotonic() < deadline:
            if tasks.exists() and tasks.read_bytes().count(b"\n") >= target:
                break
            assert proc.poll() is None, "the run ended: it must wait for its fields"
            time.sleep(0.05)
        else:
            raise AssertionError("no target reached in 45 s")
        time.sleep(0.3)  # it waits for its fields now (run.fields)
        assert proc.poll() is None
    finally:
        proc.send_signal(how)
        try:
            status = proc.wait(timeout=20)
        finally:
            proc.kill()
    return status


def test_a_kill_before_the_fields_is_completed_on_resume(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    _killed_before_the_fields(out, 12)
    lines = _lines(out / "tasks.jsonl")
    assert lines and all(line["avg_similarity_score"] is None for line in lines)
    assert not (out / layout.FIELDS_FILE).exists() or not _lines(out / layout.FIELDS_FILE)
    # never silently missing: report counts them, export says so
    before = report_json(out)
    assert before["fields_missing"] == len(lines)
    assert any("no similarity fields yet" in w for w in before["warnings"])
    assert main(["export", str(out), "--format", "alpaca", "--output",
                 str(tmp_path / "a.json")]) == 0
    assert f"{len(lines)} task(s)" in capsys.readouterr().err
    # the same command again: its target is reached, it writes the missing fields only
    assert main(["run", "--out", str(out), "--target-instructions", "12", *QUIET]) == 0
    assert _lines(out / "tasks.jsonl") == lines  # nothing else committed
    written = _lines(out / layout.FIELDS_FILE)
    assert (sorted(str(line["id"]) for line in written if "id" in line)
            == sorted(str(x["id"]) for x in lines))
    tasks, notes = load_tasks(out)
    assert notes == [] and all(task.scored for task in tasks)
    seeds = [seed.instruction for seed in load_seeds(OUR_SEEDS)]
    for n in (0, len(tasks) // 2, len(tasks) - 1):  # the seeds and the tasks before it
        pool = seeds + [task.instruction for task in tasks[:n]]
        check(task_neighbours(tasks[n]), tasks[n].instruction, pool, len(seeds))
    after = report_json(out)
    assert after["fields_missing"] == 0
    assert not any("similarity fields" in w for w in after["warnings"])
    finished = _lines(out / "events.jsonl")[-1]
    assert finished["event"] == "run.finished" and finished["fields_missing"] == 0


def test_a_torn_fields_line_is_cut_and_written_again(tmp_path: Path) -> None:
    """A kill mid-line leaves a torn tail in fields.jsonl: that task counts as missing, the
    next run cuts the tail and writes its line whole."""
    out = tmp_path / "out"
    _killed_before_the_fields(out, 6)
    lines = _lines(out / "tasks.jsonl")
    assert main(["run", "--out", str(out), "--target-instructions", "6", *QUIET]) == 0
    path = out / layout.FIELDS_FILE
    data = path.read_bytes()
    last = data.rstrip(b"\n").rfind(b"\n") + 1
    path.write_bytes(data[:last] + data[last:last + 25])  # the last line torn
    assert report_json(out)["fields_missing"] == 1
    assert main(["run", "--out", str(out), "--target-instructions", "6", *QUIET]) == 0
    assert sorted(fields.written_ids(path)) == sorted(str(x["id"]) for x in lines)
    assert path.read_bytes().endswith(b"\n")
    assert len([line for line in _lines(path) if "id" in line]) == len(lines)


def test_a_signal_while_the_run_waits_for_its_fields_leaves_them_to_the_next(
        tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _killed_before_the_fields(out, 8, signal.SIGINT) == 0  # a drain: exit 0, at once
    lines = _lines(out / "tasks.jsonl")
    finished = _lines(out / "events.jsonl")[-1]
    assert finished["event"] == "run.finished"
    assert finished["fields_missing"] == len(lines) > 0
    assert main(["run", "--out", str(out), "--target-instructions", "8", *QUIET]) == 0
    assert fields.count_missing(out) == 0


def test_old_and_compact_fields_lines_are_both_joined(tmp_path: Path) -> None:
    """A directory whose fields.jsonl holds lines of the earlier (written-out) form and compact
    ones, names defined by an earlier run and reused by a later one: all joined the same."""
    seeds = ["write a poem about the sea", "list three prime numbers"]
    texts = ["write a story about the sea", "name three prime numbers now",
             "explain why the sky is blue", "a failed job's instruction about colour"]
    scores = PoolScores(seeds)
    tasks, expected = [], []
    committed = [texts[0], texts[1], texts[2]]  # texts[3] was admitted, its job failed
    for n, text in enumerate(texts[:3]):
        got = scores.neighbours(scores.query(text))
        scores.add(text)
        if n == 1:
            scores.add(texts[3])
        expected.append(got)
        tasks.append(Task(id=f"task-{n + 1:06d}", instruction=text, is_classification=False,
                          instances=(), scored=False))
    later = scores.neighbours(scores.query("why is the sea blue and the sky"))
    out = tmp_path / "out"
    out.mkdir()
    (out / layout.TASKS_FILE).write_bytes(b"".join(
        orjson.dumps(task.to_json(), option=orjson.OPT_APPEND_NEWLINE) for task in tasks))
    names = fields.Names(committed[:1], {})
    lines = [fields.fields_line(tasks[0].id, expected[0])]  # the earlier form
    for n in (1, 2):
        definitions, body = names.refs(expected[n])
        lines += [definitions, fields.compact_line(tasks[n].id, body)]
    path = out / layout.FIELDS_FILE
    path.write_bytes(b"".join(lines))
    resumed = fields.Names(committed, fields.read_names(path))  # a later run's writer
    definitions, body = resumed.refs(later)
    assert definitions == b""  # every text it names is a task's or defined already
    joined, unscored = fields.join(tasks, out)
    assert unscored == 0
    for task, want in zip(joined, expected, strict=True):
        assert task.scored and task_neighbours(task) == want
        assert list(task.most_similar.items()) == list(want.most_similar.items())
    assert fields.written_ids(path) == {task.id for task in tasks}
    path.write_bytes(path.read_bytes() + fields.compact_line("task-000009", b'{"near":[[7,0.5]],'
                                                              b'"avg":0.1,"seed":[]}'))
    tasks.append(Task(id="task-000009", instruction="x", is_classification=False,
                      instances=(), scored=False))
    # place 7 is past the 4 tasks read: a task a run still writing commits later (report
    # and export read tasks.jsonl first): the task is counted without its fields, no error
    joined, unscored = fields.join(tasks, out)
    assert unscored == 1 and not joined[-1].scored
    path.write_bytes(path.read_bytes() + fields.compact_line("task-000009", b'{"near":[["~99",'
                                                              b'0.5]],"avg":0.1,"seed":[]}'))
    with pytest.raises(UsageError, match="names '~99'"):  # a name never defined: corrupt
        fields.join(tasks, out)
