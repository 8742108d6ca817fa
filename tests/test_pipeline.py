"""The whole graph against the simulator: target, resume after a torn tail, signals, bad input.

These run `asyncgen run` for real: in-process through `cli.main` (with the run's own embedded
simulator subprocess) or as a subprocess when a signal or a kill is part of the test.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from rouge_score import rouge_scorer

from asyncgen import journal
from asyncgen.cli import main

from .conftest import OUR_SEEDS, sim_process

KEY_VARS = ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "ASYNCGEN_API_KEY")
QUIET = ["--log-format", "none", "--progress-interval", "1"]
PAST_TARGET = 15  # tasks committed past the target: jobs already classified when it is reached


@pytest.fixture(autouse=True)
def _no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in KEY_VARS:
        monkeypatch.delenv(var, raising=False)


def _tasks(out: Path) -> list[dict[str, object]]:
    data = (out / "tasks.jsonl").read_bytes()
    assert data.endswith(b"\n")
    return [orjson.loads(line) for line in data.splitlines()]


def _events(out: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in (out / "events.jsonl").read_bytes().splitlines()]


def _assert_valid_pool(tasks: list[dict[str, object]]) -> None:
    """No duplicate, no pair above 0.7, and every instance passes the paper's filters."""
    texts = [str(t["instruction"]) for t in tasks]
    assert len(set(texts)) == len(texts)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    for a, b in itertools.combinations(texts, 2):
        assert scorer.score(a, b)["rougeL"].fmeasure <= 0.7, (a, b)
    for task in tasks:
        instances = task["instances"]
        assert isinstance(instances, list) and 1 <= len(instances) <= 5
        for inst in instances:
            assert inst["output"].strip() and inst["output"] != inst["input"]
            assert not inst["output"].endswith(":") and not inst["input"].endswith(":")


def test_run_reaches_the_target_on_the_simulator(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["run", "--out", str(out), "--target-instructions", "40", *QUIET]) == 0
    tasks = _tasks(out)
    assert 40 <= len(tasks) <= 40 + PAST_TARGET  # jobs already paid for are finished
    _assert_valid_pool(tasks)
    assert [t["id"] for t in tasks] == [f"task-{n:06d}" for n in range(1, len(tasks) + 1)]
    assert any(t["is_classification"] for t in tasks)
    seeds = {orjson.loads(line)["instruction"] for line in OUR_SEEDS.read_bytes().splitlines()}
    assert not seeds & {t["instruction"] for t in tasks}  # seeds are not copied
    names = [e["event"] for e in _events(out)]
    assert names[0] == "run.started" and names[-1] == "run.finished"
    assert _events(out)[-1]["reason"] == "target"
    assert "task.rejected" in names and "request.completed" in names


def test_resume_cuts_a_torn_tail_and_continues_without_duplicates(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["run", "--out", str(out), "--target-instructions", "15", *QUIET]) == 0
    with (out / "tasks.jsonl").open("ab") as f:
        f.write(b'{"id": "task-000016", "instruction": "Half a li')  # as a kill -9 leaves it
    with (out / "events.jsonl").open("ab") as f:
        f.write(b'{"event": "request.compl')
    assert main(["run", "--out", str(out), "--target-instructions", "30", *QUIET]) == 0
    assert main(["report", str(out), "--json"]) == 0  # every events line parses again
    tasks = _tasks(out)
    assert 30 <= len(tasks) <= 30 + PAST_TARGET
    _assert_valid_pool(tasks)
    assert [t["id"] for t in tasks] == [f"task-{n:06d}" for n in range(1, len(tasks) + 1)]
    events = _events(out)
    assert any(e["event"] == "store.torn_tail_cut" for e in events)
    assert sum(e["event"] == "run.started" for e in events) == 2


def test_run_already_at_target_stops_at_once(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["run", "--out", str(out), "--target-instructions", "5", *QUIET]) == 0
    first = len(_tasks(out))
    assert main(["run", "--out", str(out), "--target-instructions", "5", *QUIET]) == 0
    assert len(_tasks(out)) == first >= 5


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seeds", "missing.jsonl"], "cannot read seed file"),
        (["--seeds", "BAD"], ":2: missing field 'instruction'"),
        (["--provider", "openai"], "(set OPENAI_API_KEY)"),
        (
            [
                "--budget-usd",
                "1",
                "--provider",
                "openai-compatible",
                "--base-url",
                "http://127.0.0.1:9/v1",
                "--model",
                "mystery",
            ],
            "--budget-usd needs prices",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(OUR_SEEDS.read_bytes().splitlines()[0] + b'\n{"id": "x"}\n')
    argv = [str(bad) if a == "BAD" else a for a in argv]
    out = tmp_path / "out"
    assert main(["run", "--out", str(out), *argv, *QUIET]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not out.exists()


# --- signals, as a user's terminal or a supervisor sends them ---------------------------------


@pytest.fixture
def slow_sim() -> Iterator[str]:
    """A simulator with some latency, so a signal lands while requests are in flight."""
    with sim_process("--latency-ms", "100") as url:
        yield url


def _start_run(out: Path, url: str, *extra: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARS}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "asyncgen",
            "run",
            "--out",
            str(out),
            "--provider",
            "sim",
            "--base-url",
            url,
            "--target-instructions",
            "100000",
            *QUIET,
            *extra,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_for_tasks(out: Path, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    path = out / "tasks.jsonl"
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} tasks after {timeout}s")


def test_sigint_drains_in_flight_work_and_exits_0(tmp_path: Path, slow_sim: str) -> None:
    out = tmp_path / "out"
    proc = _start_run(out, slow_sim, "--drain-timeout", "20")
    _wait_for_tasks(out, 5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    finished = _events(out)[-1]
    assert finished["event"] == "run.finished" and finished["reason"] == "signal"
    tasks = _tasks(out)
    _assert_valid_pool(tasks)
    assert finished["committed"] == len(tasks)


def test_second_signal_stops_at_once_without_a_torn_line(tmp_path: Path, slow_sim: str) -> None:
    out = tmp_path / "out"
    proc = _start_run(out, slow_sim, "--drain-timeout", "600")
    _wait_for_tasks(out, 3)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=15)
    assert proc.returncode == 0
    _assert_valid_pool(_tasks(out))


def test_kill_9_then_resume_reaches_the_target(tmp_path: Path, slow_sim: str) -> None:
    out = tmp_path / "out"
    proc = _start_run(out, slow_sim)
    _wait_for_tasks(out, 5)
    proc.kill()
    proc.communicate(timeout=10)
    whole = (out / "tasks.jsonl").read_bytes().count(b"\n")  # a torn tail would be cut
    lines = (out / "tasks.jsonl").read_bytes().splitlines()[:whole]
    done = {orjson.loads(line)["instruction"] for line in lines}
    backlog = journal.read(out / journal.JOURNAL_FILE, done)
    paid = sum(job.is_classification is not None for job in backlog.jobs.values())
    assert (
        main(
            [
                "run",
                "--out",
                str(out),
                "--provider",
                "sim",
                "--base-url",
                slow_sim,
                "--target-instructions",
                str(whole + 10),
                *QUIET,
            ]
        )
        == 0
    )
    tasks = _tasks(out)
    assert whole + 10 <= len(tasks) <= whole + 10 + paid + PAST_TARGET  # paid: all finished
    _assert_valid_pool(tasks)
