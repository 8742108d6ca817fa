"""A pool of endpoints (`[[endpoints]]`): requests routed over two simulators; one killed
mid-run, the run goes on over the other and ends at its target; counted at the simulators."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import anyio
import pytest

from asyncgen.llm.endpoints import (
    HEALTH_FAILURES,
    PROBE_AFTER_S,
    Endpoint,
    EndpointPool,
    EndpointSpec,
    configs_for,
)
from asyncgen.llm.errors import RetriesExhausted
from asyncgen.llm.providers import ProviderConfig
from tests.conftest import report_json, sim_process

TARGET = 60


def _answered(url: str) -> int:
    with urllib.request.urlopen(f"{url.removesuffix('/v1')}/sim/stats", timeout=10) as answer:
        counts: dict[str, int] = json.loads(answer.read())["counts"]
    return counts.get("ok", 0)


def _lines(path: Path) -> int:
    return len(path.read_bytes().splitlines()) if path.exists() else 0


def test_a_killed_endpoint_is_taken_out_and_the_run_ends_at_its_target(tmp_path: Path) -> None:
    out = tmp_path / "out"
    config = tmp_path / "run.toml"
    with sim_process("--seed", "1", "--latency-ms", "150") as a:
        with sim_process("--seed", "2", "--latency-ms", "150") as b:
            config.write_text(
                'model = "ref-1"\n'
                f'[[endpoints]]\nname = "a"\nbase_url = "{a}"\nrpm = 6000\n'
                f'[[endpoints]]\nname = "b"\nbase_url = "{b}"\napi_key_env = "B_KEY_FOR_TEST"\n'
            )
            run = subprocess.Popen(
                [sys.executable, "-m", "asyncgen", "run", "--out", str(out), "--config",
                 str(config), "--target-instructions", str(TARGET), "--max-attempts", "2",
                 "--log-format", "none", "--progress-interval", "1"],
                env={**os.environ, "B_KEY_FOR_TEST": "sk-secret-b-123"},
                stderr=subprocess.PIPE, text=True,
            )
            deadline = time.monotonic() + 30
            while _lines(out / "tasks.jsonl") < 5 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert run.poll() is None, "the run ended before b was killed"
            answered_b = _answered(b)
        # b is gone (its process stopped): the run goes on over a
        _, stderr = run.communicate(timeout=50)
        assert run.returncode == 0, stderr
        answered_a = _answered(a)
    assert answered_b > 0 and answered_a > 0
    tasks = [json.loads(line) for line in (out / "tasks.jsonl").read_text().splitlines()]
    assert len(tasks) >= TARGET
    assert len({task["instruction"] for task in tasks}) == len(tasks)
    assert all(task["instances"] for task in tasks)
    events = (out / "events.jsonl").read_text()
    assert "sk-secret-b-123" not in events  # the key never reaches a file
    finished: dict[str, Any] = json.loads(events.splitlines()[-1])
    assert finished["event"] == "run.finished" and finished["reason"] == "target"
    pool = finished["limiter"]["endpoints"]
    assert pool["b"]["taken_out"] >= 1 and pool["b"]["rerouted"] >= 1
    assert pool["a"]["requests"] > 0 and pool["a"]["in_service"]
    record = (out / "asyncgen.json").read_text()
    settings = json.loads(record)["runs"][-1]["settings"]
    assert settings["provider"] == "openai-compatible"  # the pool's, not the default `sim`
    assert settings["endpoints"] == [
        {"name": "a", "provider": "openai-compatible", "base_url": a, "models": ["ref-1"]},
        {"name": "b", "provider": "openai-compatible", "base_url": b, "models": ["ref-1"]}]
    assert "sk-secret-b-123" not in record
    reported = report_json(out)["runs"]["list"][-1]["endpoints"]
    assert reported["b"]["taken_out"] >= 1 and reported["a"]["requests"] == pool["a"]["requests"]
    text = subprocess.run([sys.executable, "-m", "asyncgen", "report", str(out)],
                          capture_output=True, text=True, timeout=50, check=True).stdout
    assert "run 1, endpoints:" in text


def test_endpoint_configs_take_the_key_from_the_variable_named() -> None:
    base = ProviderConfig(provider="openai-compatible", base_url="http://x.test/v1",
                          model="ref-1")
    specs = [EndpointSpec(name="a", base_url="http://a.test/v1", api_key_env="KEY_A", rpm=60),
             EndpointSpec(name="b", provider="openai", api_key_env="KEY_B", models=("m",))]
    a, b = configs_for(specs, base, environ={"KEY_A": "ka", "KEY_B": "kb"})
    # the run's transport: over the courier, the pool shares one (open_pool)
    assert (a.api_key, a.rpm, a.base_url, a.transport) == ("ka", 60, "http://a.test/v1", "courier")
    assert (b.api_key, b.provider, b.base_url) == ("kb", "openai", "https://api.openai.com/v1")
    try:
        configs_for(specs, base, environ={"KEY_A": "ka"})
    except ValueError as exc:
        assert "KEY_B is not set" in str(exc)
    else:
        raise AssertionError("a missing key variable must be refused")


def _simulator(*args: str) -> tuple[subprocess.Popen[str], str]:
    """A simulator process of our own (its pid, to kill it), and its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "asyncgen.sim", "--host", "127.0.0.1", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    assert "listening on " in line, line
    return process, line.split("listening on ", 1)[1].strip()


def test_a_killed_endpoint_is_out_at_once_and_its_requests_go_to_the_others(
        tmp_path: Path) -> None:
    """Three simulators, one killed (SIGKILL) mid-run with the default retries: its requests
    are not retried there (one refused connection, or a few dropped ones, take it out), the
    run ends at its target over the other two, and the killed endpoint's faults are counted."""
    out = tmp_path / "out"
    config = tmp_path / "run.toml"
    target = 80
    sims = [_simulator("--seed", str(n), "--latency-ms", "150") for n in (1, 2, 3)]
    try:
        config.write_text('model = "ref-1"\n' + "".join(
            f'[[endpoints]]\nname = "{name}"\nbase_url = "{url}"\nrpm = 3000\n'
            for name, (_, url) in zip("abc", sims, strict=True)))
        run = subprocess.Popen(
            [sys.executable, "-m", "asyncgen", "run", "--out", str(out), "--config", str(config),
             "--target-instructions", str(target), "--log-format", "none",
             "--progress-interval", "1"], stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while _lines(out / "tasks.jsonl") < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert run.poll() is None, "the run ended before b was killed"
        sims[1][0].kill()  # a real kill of b's process, mid-run
        sims[1][0].wait()
        _, stderr = run.communicate(timeout=50)
        assert run.returncode == 0, stderr
        answered = [_answered(sims[0][1]), _answered(sims[2][1])]
    finally:
        for process, _ in sims:
            process.kill()
            process.wait()
            assert process.stdout is not None
            process.stdout.close()
    assert all(n > 0 for n in answered)
    tasks = [json.loads(line) for line in (out / "tasks.jsonl").read_text().splitlines()]
    assert len(tasks) >= target
    assert len({task["instruction"] for task in tasks}) == len(tasks)
    assert all(task["instances"] for task in tasks)
    lines = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    finished = lines[-1]
    assert finished["event"] == "run.finished" and finished["reason"] == "target"
    pool = finished["limiter"]["endpoints"]
    assert pool["b"]["taken_out"] >= 1 and pool["b"]["faults"] >= 1
    assert pool["b"]["failures"] >= 1 and pool["b"]["rerouted"] >= 1
    assert not pool["b"]["in_service"] or pool["b"]["taken_out"] >= 1
    assert pool["a"]["in_service"] and pool["c"]["in_service"]
    # not retried on b: at most HEALTH_FAILURES - 1 dropped connections were (the one after
    # takes b out, and a refused one does at once); with retries there, each of b's requests
    # in flight would retry up to --max-attempts times
    retried = [e for e in lines if e["event"] == "request.retry"
               and e.get("error_kind") in ("connection", "timeout", "server")]
    assert len(retried) <= HEALTH_FAILURES - 1, retried
    moved = [e for e in lines if e["event"] == "request.failed"
             and e.get("error_kind") == "endpoint_out"]
    assert moved and not any(e.get("final") for e in moved)


def test_each_openrouter_key_of_a_pool_is_checked(tmp_path: Path) -> None:
    """An OpenRouter endpoint whose key has no credit left refuses the run at the start, in one
    line that names the endpoint; its key never reaches the message."""
    config = tmp_path / "run.toml"
    with sim_process("--seed", "1") as a, \
            sim_process("--seed", "2", "--key-limit-usd", "1", "--key-usage-usd", "1") as b:
        config.write_text(
            'model = "sim-1"\n'
            f'[[endpoints]]\nname = "a"\nbase_url = "{a}"\n'
            f'[[endpoints]]\nname = "spent"\nprovider = "openrouter"\nbase_url = "{b}"\n'
            'api_key_env = "OR_KEY_FOR_TEST"\n')
        done = subprocess.run(
            [sys.executable, "-m", "asyncgen", "run", "--out", str(tmp_path / "out"),
             "--config", str(config), "--target-instructions", "5", "--log-format", "none"],
            env={**os.environ, "OR_KEY_FOR_TEST": "sk-or-spent-456"}, capture_output=True,
            text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "'spent'" in lines[0] and "no credit left" in lines[0], lines
    assert "sk-or-spent-456" not in done.stderr
    assert not (tmp_path / "out" / "tasks.jsonl").exists() or not (
        tmp_path / "out" / "tasks.jsonl").read_text()


class _Limits:
    concurrency, in_flight, queued = 8, 0, 0

    def turn_away(self, error: object) -> int:
        return 0


class _Fake:
    """A client whose answers the test decides: `fail` raises a timeout that gave up, `hang`
    blocks until `release` is set; each call is counted."""

    def __init__(self) -> None:
        self.limits = _Limits()
        self.fail = False
        self.hang = False
        self.release = anyio.Event()
        self.calls = 0

    async def complete(self, stage: str, prompt: str, params: object = None) -> str:
        self.calls += 1
        if self.hang:
            await self.release.wait()
        if self.fail:
            raise RetriesExhausted("timed out", last_kind="timeout")
        return "answer"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_an_endpoint_taken_out_is_probed_by_one_request_alone() -> None:
    """Out after HEALTH_FAILURES faults in a row; once due, one request probes it while the
    others go elsewhere (a hung server is not sent a window to time out again); its answer puts
    it back."""
    now = [0.0]
    clients = {"a": _Fake(), "b": _Fake()}
    a, b = (Endpoint(name, client, ["m"], clock=lambda: now[0])
            for name, client in clients.items())
    pool = EndpointPool([a, b], model="m", clock=lambda: now[0])
    clients["a"].fail = True
    clients["b"].limits.in_flight = 4  # a has more room: it is chosen while in service
    for _ in range(HEALTH_FAILURES):
        assert await pool.complete("instructions", "p") == "answer"  # moved to b
    assert a.out and a.taken_out == 1 and a.faults == HEALTH_FAILURES
    calls = clients["a"].calls
    await pool.complete("instructions", "p")
    assert clients["a"].calls == calls  # out: not sent there
    now[0] += PROBE_AFTER_S + 0.1
    clients["a"].fail, clients["a"].hang = False, True
    async with anyio.create_task_group() as tg:
        tg.start_soon(pool.complete, "instructions", "probe")
        await anyio.wait_all_tasks_blocked()
        assert clients["a"].calls == calls + 1 and a.probing
        with anyio.fail_after(5):  # sent to a, they would hang with the probe
            for _ in range(5):  # the others while the probe hangs: b
                await pool.complete("instructions", "p")
        assert clients["a"].calls == calls + 1
        clients["a"].release.set()
    assert not a.out and not a.probing and a.failures_in_a_row == 0
    await pool.complete("instructions", "p")
    assert clients["a"].calls == calls + 2  # back in service


def _restart_on(port: int, *args: str) -> tuple[subprocess.Popen[str], str]:
    """A simulator of our own on this port (a restarted server is back where it was)."""
    deadline = time.monotonic() + 10
    while True:
        process = subprocess.Popen(
            [sys.executable, "-m", "asyncgen.sim", "--host", "127.0.0.1", "--port", str(port),
             *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            start_new_session=True)
        assert process.stdout is not None
        line = process.stdout.readline()
        if "listening on " in line or time.monotonic() > deadline:
            assert "listening on " in line, line
            return process, line.split("listening on ", 1)[1].strip()
        process.wait()
        process.stdout.close()
        time.sleep(0.05)


def test_a_pool_of_one_rides_out_a_restart_of_its_endpoint_as_the_single_endpoint_does(
        tmp_path: Path) -> None:
    """The last endpoint in service for its model is not taken out: a pool of one whose server
    restarts (killed, back on its port half a second later) retries there as the single
    endpoint does, drops no request, and ends at its target (taken out, nothing could serve
    the run's model: it ended fatally at the first refused connection)."""
    target = 40
    sim, url = _simulator("--seed", "1", "--latency-ms", "100")
    port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
    out = tmp_path / "out"
    config = tmp_path / "run.toml"
    config.write_text(f'model = "ref-1"\n[[endpoints]]\nname = "a"\nbase_url = "{url}"\n')
    back: subprocess.Popen[str] | None = None
    try:
        run = subprocess.Popen(
            [sys.executable, "-m", "asyncgen", "run", "--out", str(out), "--config", str(config),
             "--target-instructions", str(target), "--log-format", "none"],
            stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while _lines(out / "tasks.jsonl") < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert run.poll() is None, "the run ended before its server was restarted"
        sim.kill()  # a real kill, mid-run
        sim.wait()
        time.sleep(0.5)
        back, _ = _restart_on(port, "--seed", "2", "--latency-ms", "100")
        _, stderr = run.communicate(timeout=50)
        assert run.returncode == 0, stderr
    finally:
        for process in (sim, back):
            if process is not None:
                process.kill()
                process.wait()
                assert process.stdout is not None
                process.stdout.close()
    tasks = [json.loads(line) for line in (out / "tasks.jsonl").read_text().splitlines()]
    assert len(tasks) >= target and all(task["instances"] for task in tasks)
    lines = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert lines[-1]["event"] == "run.finished" and lines[-1]["reason"] == "target"
    moved = [e for e in lines if e["event"] == "request.failed"]
    assert not moved, moved[:3]  # nowhere else to go: retried there, not dropped


def test_a_pool_goes_on_when_an_openrouter_endpoint_is_down_at_the_start(
        tmp_path: Path) -> None:
    """An OpenRouter endpoint whose GET /key finds nothing listening is said once (no answer)
    and the run goes on over the others, at its target: a traceback ended it."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    out = tmp_path / "out"
    config = tmp_path / "run.toml"
    with sim_process("--seed", "1", "--latency-ms", "50") as a:
        config.write_text(
            'model = "sim-1"\n'
            f'[[endpoints]]\nname = "a"\nbase_url = "{a}"\n'
            f'[[endpoints]]\nname = "down"\nprovider = "openrouter"\n'
            f'base_url = "http://127.0.0.1:{port}/v1"\napi_key_env = "OR_KEY_FOR_TEST"\n')
        done = subprocess.run(
            [sys.executable, "-m", "asyncgen", "run", "--out", str(out), "--config",
             str(config), "--target-instructions", "20", "--log-format", "none"],
            env={**os.environ, "OR_KEY_FOR_TEST": "sk-or-down-789"}, capture_output=True,
            text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "sk-or-down-789" not in done.stderr
    lines = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    said = [e for e in lines if e["event"] == "run.key"]
    assert len(said) == 1 and said[0]["endpoint"] == "down", said
    assert lines[-1]["event"] == "run.finished" and lines[-1]["reason"] == "target"
    assert "sk-or-down-789" not in (out / "events.jsonl").read_text()


@pytest.mark.anyio
async def test_each_fault_of_an_endpoint_is_counted_once() -> None:
    """A request that gave up on its endpoint's 5xx (real HTTP, a simulator that answers 5xx
    to everything): its endpoint counted each attempt as it happened, and the pool does not
    count the request's end once more (`faults` is attempts, `failures_in_a_row` too)."""
    from asyncgen.llm.endpoints import open_pool
    from asyncgen.sim.embedded import simulator

    async with simulator(["--seed", "1", "--fail-5xx", "1"]) as url:
        base = ProviderConfig(provider="openai-compatible", base_url=url, model="ref-1",
                              max_attempts=2)
        specs = [EndpointSpec(name="a", base_url=url)]
        async with open_pool(specs, configs_for(specs, base, environ={}), budget=None) as pool:
            with pytest.raises(RetriesExhausted):
                await pool.complete("instructions", "p")
            a = pool.endpoints[0]
            attempts = a.client.stats()["attempt_errors"]["server"]
            assert attempts == 2
            assert (a.faults, a.failures_in_a_row) == (attempts, attempts)


def test_attempts_that_reached_an_endpoint_taken_out_stay_spent_at_its_books(
        tmp_path: Path) -> None:
    """b holds every request (billed, never answered): its timeouts take it out and its
    requests go to a. Each attempt b received was maybe billed: the run's spend stays at or
    above what both simulators billed, by their own books (b's included), and no answered
    request was sent twice (every task's instances, a's answers no more than the run read)."""
    from asyncgen.sim.books import billed_usd

    out = tmp_path / "out"
    config = tmp_path / "run.toml"
    books_a, books_b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    with sim_process("--seed", "1", "--latency-ms", "50", "--books", str(books_a)) as a, \
            sim_process("--seed", "2", "--fail-hang", "1", "--books", str(books_b)) as b:
        config.write_text('model = "sim-1"\n' + "".join(
            f'[[endpoints]]\nname = "{name}"\nbase_url = "{url}"\n'
            for name, url in (("a", a), ("b", b))))
        done = subprocess.run(
            [sys.executable, "-m", "asyncgen", "run", "--out", str(out), "--config",
             str(config), "--target-instructions", "20", "--timeout", "1",
             "--log-format", "none"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    finished = lines[-1]
    assert finished["event"] == "run.finished" and finished["reason"] == "target"
    held = billed_usd(books_b)
    assert held > 0 and finished["limiter"]["endpoints"]["b"]["taken_out"] >= 1
    assert finished["limiter"]["budget"]["spent_usd"] >= billed_usd(books_a) + held - 1e-9
