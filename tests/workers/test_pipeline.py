"""The whole graph against the simulator: target, resume after a torn tail, signals, bad input.

These run `asyncgen run` for real: in-process through `cli.main` (with the run's own embedded
simulator subprocess) or as a subprocess when a signal or a kill is part of the test.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from rouge_score import rouge_scorer

from asyncgen.cli import main
from asyncgen.novelty.similarity import RougeLIndex, rouge_l
from asyncgen.rundir import journal, layout
from asyncgen.sim.books import fetch_totals, read_books
from tests.conftest import OUR_SEEDS, sim_process

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


ROUGE_SAMPLE = 200  # pairs checked against rouge-score itself; all pairs go through the index


def _assert_valid_pool(tasks: list[dict[str, object]]) -> None:
    """No duplicate, no pair above 0.7, and every instance passes the paper's filters.

    All pairs are checked with the project's exact index (C++ LCS), a bounded sample of pairs
    with rouge-score itself (pure Python, slow), which the index must equal bit for bit.
    """
    texts = [str(t["instruction"]) for t in tasks]
    assert len(set(texts)) == len(texts)
    index = RougeLIndex()
    for text in texts:
        assert index.is_novel(text, 0.7), (text, index.similar(text, 0.7))
        index.add(text)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    pairs = list(itertools.islice(itertools.combinations(texts, 2), 20 * ROUGE_SAMPLE))
    for a, b in random.Random(0).sample(pairs, min(ROUGE_SAMPLE, len(pairs))):
        score = scorer.score(a, b)["rougeL"].fmeasure
        assert score == rouge_l(a, b) and score <= 0.7, (a, b)
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
        (["--seeds", "missing.jsonl"], "--seeds: cannot read"),
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
def slow_sim(tmp_path: Path) -> Iterator[str]:
    """A simulator with some latency, so a signal lands while requests are in flight."""
    with sim_process("--latency-ms", "100", "--books", str(tmp_path / "books.jsonl")) as url:
        yield url


@pytest.fixture(scope="module")
def hanging_sim() -> Iterator[str]:
    """A simulator where 30% of requests never answer: a drain can only end by its deadline
    or a second signal, never by finishing its work."""
    with sim_process("--latency-ms", "50", "--fail-hang", "0.3") as url:
        yield url


def _start_run(out: Path, url: str | None, *extra: str, target: int = 100000,
               **popen: Any) -> subprocess.Popen[bytes]:
    """`asyncgen run` as a subprocess, on `url` (or the embedded simulator when None)."""
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARS}
    provider = ["--provider", "sim", "--base-url", url] if url else []
    popen.setdefault("stdout", subprocess.DEVNULL)
    popen.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen(
        [sys.executable, "-m", "asyncgen", "run", "--out", str(out), *provider,
         "--target-instructions", str(target), *QUIET, *extra],
        env=env, **popen,
    )


def _wait_for(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"no {what} after {timeout}s")


def _wait_for_tasks(out: Path, count: int, timeout: float = 30.0) -> None:
    path = out / "tasks.jsonl"
    _wait_for(lambda: path.exists() and path.read_bytes().count(b"\n") >= count,
              f"{count} tasks", timeout)


def _wait_for_event(out: Path, name: str, timeout: float = 30.0) -> None:
    path = out / "events.jsonl"
    marker = f'"event":"{name}"'.encode()
    _wait_for(lambda: path.exists() and marker in path.read_bytes(), name, timeout)


def _assert_whole(out: Path) -> None:
    """Every line of every file is whole: a newline at the end, JSON on each line."""
    for name in ("tasks.jsonl", "events.jsonl"):
        data = (out / name).read_bytes()
        assert not data or data.endswith(b"\n"), name
        for line in data.splitlines():
            orjson.loads(line)


def _time(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(event["timestamp"]))


def _after(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The events after the first `name` event."""
    names = [e["event"] for e in events]
    return events[names.index(name) + 1:]


def test_sigint_drains_in_flight_work_and_exits_0(tmp_path: Path, slow_sim: str) -> None:
    out = tmp_path / "out"
    proc = _start_run(out, slow_sim, "--drain-timeout", "20")
    _wait_for_tasks(out, 5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    events = _events(out)
    finished = events[-1]
    assert finished["event"] == "run.finished" and finished["reason"] == "signal"
    tasks = _tasks(out)
    _assert_valid_pool(tasks)
    assert finished["committed"] == len(tasks)
    drained = _after(events, "run.stopping")
    # the first signal drains: work in flight is finished and committed, not cancelled
    assert any(e["event"] == "task.committed" for e in drained)
    # and no generation request is sent after it: the last generation answers are the ones
    # already in flight (100 ms), none is a request sent later
    stop_at = _time(next(e for e in events if e["event"] == "run.stopping"))
    late = [e for e in drained if e["event"] == "request.completed"
            and e["stage"] == "instructions"
            and _time(e) > stop_at + timedelta(seconds=1)]
    assert late == []


def test_second_signal_stops_a_signal_drain_at_once(tmp_path: Path, hanging_sim: str) -> None:
    out = tmp_path / "out"
    proc = _start_run(out, hanging_sim, "--drain-timeout", "600", "--timeout", "600")
    _wait_for_tasks(out, 2)
    proc.send_signal(signal.SIGTERM)
    time.sleep(1.0)
    assert proc.poll() is None  # the first signal drains (hung requests: it cannot finish)
    proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    _, err = proc.communicate(timeout=15)
    assert time.monotonic() - sent < 3.0
    assert proc.returncode == 0, err.decode()
    assert _events(out)[-1]["reason"] == "signal"
    _assert_whole(out)
    _assert_valid_pool(_tasks(out))


def test_two_signals_stop_a_duration_drain_within_3_s(tmp_path: Path, hanging_sim: str) -> None:
    out = tmp_path / "out"
    proc = _start_run(out, hanging_sim, "--max-duration", "1.5", "--drain-timeout", "600",
                      "--timeout", "600")
    _wait_for_event(out, "run.stopping")
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    _, err = proc.communicate(timeout=15)
    assert time.monotonic() - sent < 3.0
    assert proc.returncode == 0, err.decode()
    events = _events(out)
    assert events[-1]["event"] == "run.finished" and events[-1]["reason"] == "duration"
    _assert_whole(out)


def test_drain_deadline_expiry_ends_the_run(tmp_path: Path, hanging_sim: str) -> None:
    out = tmp_path / "out"
    proc = _start_run(out, hanging_sim, "--max-duration", "1", "--drain-timeout", "1",
                      "--timeout", "600")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    events = _events(out)
    stopping = next(e for e in events if e["event"] == "run.stopping")
    assert stopping["reason"] == "duration" and stopping["drain_s"] == 1
    finished = events[-1]
    assert finished["reason"] == "duration"
    drained = (_time(finished) - _time(stopping)).total_seconds()
    assert 0.9 <= drained < 3.0  # the hung requests were cut at the drain deadline
    _assert_whole(out)


def test_kill_9_then_resume_reaches_the_target(tmp_path: Path, slow_sim: str) -> None:
    out = tmp_path / "out"
    proc = _start_run(out, slow_sim)
    _wait_for_tasks(out, 5)
    proc.kill()
    proc.communicate(timeout=10)
    whole = (out / "tasks.jsonl").read_bytes().count(b"\n")  # a torn tail would be cut
    lines = (out / "tasks.jsonl").read_bytes().splitlines()[:whole]
    done = {orjson.loads(line)["instruction"] for line in lines}
    backlog = journal.read(out / layout.JOURNAL_FILE, done)
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


# --- the other stops, end to end against the simulator's own books ----------------------------


def test_max_requests_caps_what_the_provider_sees(tmp_path: Path) -> None:
    books = tmp_path / "books.jsonl"
    with sim_process("--latency-ms", "20", "--books", str(books)) as url:
        proc = _start_run(tmp_path / "out", url, "--max-requests", "25")
        _, err = proc.communicate(timeout=60)
        totals = fetch_totals(url)
    assert proc.returncode == 0, err.decode()
    assert _events(tmp_path / "out")[-1]["reason"] == "max_requests"
    assert 1 <= totals["requests"] <= 25


def test_endpoint_completions_end_to_end(tmp_path: Path) -> None:
    books = tmp_path / "books.jsonl"
    with sim_process("--books", str(books)) as url:
        proc = _start_run(tmp_path / "out", url, "--endpoint", "completions", target=5)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert 5 <= len(_tasks(tmp_path / "out")) <= 5 + PAST_TARGET
    lines = list(read_books(books))
    assert lines and {line["endpoint"] for line in lines} == {"completions"}


def test_tpm_keeps_under_the_providers_token_limit(tmp_path: Path) -> None:
    tpm = 600_000  # 10K tokens a second: above one request (a bucket holds one second)
    with sim_process("--tpm-limit", str(tpm)) as url:
        proc = _start_run(tmp_path / "out", url, "--tpm", str(tpm), "--max-duration", "2",
                          "--drain-timeout", "2")
        _, err = proc.communicate(timeout=60)
        with urllib.request.urlopen(url.removesuffix("/v1") + "/sim/stats") as response:
            counts = orjson.loads(response.read())["counts"]
    assert proc.returncode == 0, err.decode()
    assert counts.get("ok", 0) >= 10
    # at most a stray 429 where the token estimate falls short (without --tpm: 13 or more)
    assert counts.get("rate_limited", 0) <= 2, counts


# --- the embedded simulator belongs to its run ----------------------------------------------


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_ctrl_c_to_the_process_group_drains_the_embedded_path(tmp_path: Path) -> None:
    """`setsid asyncgen run ...` then `kill -INT -- -PGID`, as a terminal's Ctrl-C does."""
    out = tmp_path / "out"
    proc = _start_run(out, None, "--log-format", "json", start_new_session=True,
                      stdout=subprocess.PIPE)
    _wait_for_tasks(out, 3)
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr.decode()
    assert _events(out)[-1]["reason"] == "signal"
    for line in (stdout + stderr).splitlines():  # the simulator prints nothing on the console
        orjson.loads(line)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_no_simulator_outlives_its_run_killed_with_9(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _start_run(out, None)
    _wait_for_tasks(out, 1)
    children = _children(proc.pid)
    assert children
    proc.kill()
    proc.communicate(timeout=10)
    _wait_for(lambda: not any(_alive(pid) for pid in children), "simulator exit", timeout=5)
