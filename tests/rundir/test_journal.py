"""The work journal: what a run paid for survives a stop, a kill or a stuck provider, counted at
the provider (the simulator's `arrivals` by prompt kind in GET /sim/stats)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from asyncgen.errors import UsageError
from asyncgen.rundir import journal, layout
from asyncgen.rundir.journal import Backlog, OpenJob
from tests.conftest import sim_process

KEY_VARS = ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "ASYNCGEN_API_KEY")
QUIET = ("--log-format", "none", "--progress-interval", "1")
A, B, C, D = (f"Describe the {w} of a lighthouse keeper in winter." for w in
              ("morning", "evening", "supper", "worries"))


# --- the fold ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("records", "committed", "expected"),
    [
        ([], set(), Backlog()),
        # admitted, then labelled: open and labelled; a commit in tasks.jsonl closes it
        ([journal.admitted(A), journal.labelled(A, True), journal.admitted(B)],
         {B}, Backlog(jobs={A: OpenJob(A, True)})),
        # failed: no longer open, remembered with its reason
        ([journal.admitted(A), journal.labelled(A, False), journal.failed(A, "no_instances")],
         set(), Backlog(failed={A: "no_instances"})),
        # candidates: a judged batch is dropped; in the others, what is known (admitted, failed,
        # committed) and repeats are dropped
        ([journal.candidates("r-1", [A, B, C, C, D]), journal.admitted(A),
          journal.failed(B, "x"), journal.candidates("r-2", [A]), journal.candidates("r-3", [B]),
          journal.judged("r-3")],
         {C}, Backlog(candidates={"r-1": [D]}, jobs={A: OpenJob(A)}, failed={B: "x"})),
        # a label for a job the journal does not have open is ignored
        ([journal.labelled(A, True)], set(), Backlog()),
    ],
)
def test_journal_folds_into_the_backlog(
    tmp_path: Path, records: list[dict[str, Any]], committed: set[str], expected: Backlog
) -> None:
    path = tmp_path / layout.JOURNAL_FILE
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    backlog = journal.read(path, committed)
    assert backlog == expected
    journal.rewrite(path, backlog)  # the compacted journal folds to the same backlog
    assert journal.read(path, committed) == expected


def test_torn_last_line_is_skipped_and_a_foreign_line_refused(tmp_path: Path) -> None:
    path = tmp_path / layout.JOURNAL_FILE
    whole = orjson.dumps(journal.admitted(A)) + b"\n"
    path.write_bytes(whole + b'{"op": "labelled", "instr')
    assert journal.read(path, set()) == Backlog(jobs={A: OpenJob(A)})
    path.write_bytes(whole + b'{"id": "task-000001", "instruction": "x"}\n')
    with pytest.raises(UsageError, match="line 2: not an asyncgen journal line"):
        journal.read(path, set())
    path.write_bytes(b'{"op": "failed", "instruction": "x", "reason": 3}\n')
    with pytest.raises(UsageError, match="field 'reason' must be str"):
        journal.read(path, set())


# --- against the simulator, counted at the provider --------------------------------------------


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in KEY_VARS}


def _run(out: Path, url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "asyncgen", "run", "--out", str(out), "--provider", "sim",
            "--base-url", url, *QUIET, *extra]


def _arrivals(url: str) -> dict[str, int]:
    stats = httpx.get(url.removesuffix("/v1") + "/sim/stats").json()
    return dict(stats["arrivals"])


def _finished(out: Path) -> dict[str, Any]:
    last = (out / "events.jsonl").read_bytes().splitlines()[-1]
    event: dict[str, Any] = orjson.loads(last)
    assert event["event"] == "run.finished"
    return event


@pytest.fixture
def stuck_sim() -> Iterator[str]:
    with sim_process("--stuck") as url:
        yield url


def test_stuck_provider_stops_the_run_and_its_failures_are_remembered(
    tmp_path: Path, stuck_sim: str
) -> None:
    """The same two instructions, whose instances always fail: each is classified once, the run
    stops itself (reason stuck, exit 1, one line), and a resumed run pays nothing for them."""
    out = tmp_path / "out"
    started = time.monotonic()
    done = subprocess.run(_run(out, stuck_sim, "--max-duration", "120"), env=_env(),
                          capture_output=True, timeout=60)
    assert time.monotonic() - started < 30  # well before --max-duration
    assert done.returncode == 1
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "stuck" in lines[0], lines
    finished = _finished(out)
    assert finished["reason"] == "stuck"
    first = _arrivals(stuck_sim)
    assert first["classify"] == 2 and first["input_first"] + first.get("output_first", 0) == 2
    # the 200 that made it stuck, and what was in flight then: at most the concurrency window
    assert first["instructions"] <= 200 + finished["limiter"]["concurrency"]
    backlog = journal.read(out / layout.JOURNAL_FILE, set())
    assert len(backlog.failed) == 2 and not backlog.jobs

    done = subprocess.run(_run(out, stuck_sim, "--stuck-after", "20"), env=_env(),
                          capture_output=True, timeout=60)
    assert done.returncode == 1
    again = _arrivals(stuck_sim)
    assert again["classify"] == first["classify"]  # rejected before any spend
    assert (out / "tasks.jsonl").read_bytes() == b""


@pytest.fixture
def sim_300ms() -> Iterator[str]:
    with sim_process("--latency-ms", "300") as url:
        yield url


def _wait_for_lines(path: Path, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"fewer than {count} lines in {path} after {timeout}s")


def test_sigint_stops_the_spending_and_the_resume_continues_the_journal(
    tmp_path: Path, sim_300ms: str
) -> None:
    """After SIGINT no generation request and at most a handful of classification requests
    reach the provider later than 0.5 s; the queued work is journaled and the resumed run
    finishes it, with about one classification request per committed task in all."""
    out = tmp_path / "out"
    proc = subprocess.Popen(_run(out, sim_300ms, "--target-instructions", "100000"),
                            env=_env(), stderr=subprocess.PIPE)
    _wait_for_lines(out / "tasks.jsonl", 10)
    at_signal = _arrivals(sim_300ms)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)
    at_half_second = _arrivals(sim_300ms)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    after = _arrivals(sim_300ms)
    assert after["instructions"] == at_half_second["instructions"]
    assert after["classify"] - at_half_second["classify"] <= 5
    # stricter: queued jobs are not classified at all (a few may race the signal itself)
    assert after["classify"] - at_signal["classify"] <= 8
    assert _finished(out)["reason"] == "signal"
    committed = {orjson.loads(line)["instruction"]
                 for line in (out / "tasks.jsonl").read_bytes().splitlines()}
    backlog = journal.read(out / layout.JOURNAL_FILE, committed)
    assert backlog.jobs or backlog.candidates  # queued work was journaled, not dropped

    target = len(committed) + 10
    done = subprocess.run(_run(out, sim_300ms, "--target-instructions", str(target)),
                          env=_env(), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    tasks = (out / "tasks.jsonl").read_bytes().splitlines()
    assert len(tasks) >= target
    instructions = [orjson.loads(line)["instruction"] for line in tasks]
    assert len(set(instructions)) == len(instructions)
    total = _arrivals(sim_300ms)
    if len(backlog.jobs) >= 2 * 10:  # the backlog alone reaches the target: nothing new sampled
        assert total["instructions"] == after["instructions"]
    assert total["classify"] <= 1.10 * len(tasks) + 5


def test_the_model_of_each_stage_is_journaled_and_folded_back() -> None:
    """A candidate batch keeps the model that wrote it, an open job the models that wrote and
    labelled it: through the fold, the summary's state and the rewritten lines."""
    backlog = Backlog()
    for record in (journal.candidates("b1", ["A new one.", "Another."], "writer-a"),
                   journal.candidates("b2", ["Old line."]),
                   journal.judged("b2"),
                   journal.admitted("A job.", "writer-b"),
                   journal.labelled("A job.", True, "labeller")):
        journal.add(backlog, orjson.loads(orjson.dumps(record)), "test")
    assert backlog.models == {"b1": "writer-a"}
    assert backlog.jobs["A job."].models == {"instructions": "writer-b", "classify": "labeller"}
    copied = Backlog.from_state(orjson.loads(orjson.dumps(backlog.state())))
    rewritten = Backlog()
    for record in backlog.records():
        journal.add(rewritten, record, "test")
    for again in (copied, rewritten):
        assert again.models == backlog.models and again.jobs == backlog.jobs
    older = {"candidates": {"b": ["x"]}, "jobs": {"A job.": None}, "failed": {}}  # no models
    assert Backlog.from_state(older).jobs["A job."].models == {}
    with pytest.raises(UsageError):
        journal.add(Backlog(), {"op": "admitted", "instruction": "x", "model": 3}, "test")
