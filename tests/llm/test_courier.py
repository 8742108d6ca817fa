"""The courier: answers in flight at a kill -9 (or cancelled) are kept, and the next run uses them
instead of buying them again. Real processes, real signals, the simulator's books."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest

from asyncgen.jsonl import JsonlFile
from asyncgen.llm import LLMClient, ProviderConfig
from asyncgen.llm import errors as e
from asyncgen.llm.errors import CourierFailed
from asyncgen.llm.transport import courier, rescue
from asyncgen.llm.transport.couriered import CourierTransport
from asyncgen.rundir import layout, spend
from asyncgen.rundir.layout import COURIER_LOCK_FILE
from asyncgen.selfinstruct.prompts import Demo, classify_prompt
from asyncgen.sim.books import fetch_totals
from tests.conftest import sim_process

TIMEOUT_S = 3.0


def _alive(pid: int) -> bool:
    """Running (a zombie no longer is: nobody here reaps a detached courier)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def _courier_pid(out: Path) -> int:
    """The pid the courier wrote in its lock file (once it has started)."""
    deadline = time.monotonic() + 10
    while not (data := (out / COURIER_LOCK_FILE).read_bytes()):
        assert time.monotonic() < deadline, "the courier never started"
        time.sleep(0.01)
    return int(orjson.loads(data)["pid"])


def _gone_within(pid: int, seconds: float) -> float:
    """Seconds until `pid` is gone; fails past `seconds`."""
    started = time.monotonic()
    while _alive(pid):
        assert time.monotonic() - started < seconds, f"courier {pid} still alive"
        time.sleep(0.02)
    return time.monotonic() - started


def _argv(out: Path, url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "asyncgen", "run", "--out", str(out), "--provider", "sim",
            "--base-url", url, "--log-format", "none", "--seed", "3", "--timeout",
            str(TIMEOUT_S), *extra]


def _events(out: Path) -> list[dict[str, Any]]:
    return [record for _, record in JsonlFile(out / "events.jsonl")]


def _runs(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The events of each run, in order."""
    runs: list[list[dict[str, Any]]] = []
    for event in events:
        if event["event"] == "run.started":
            runs.append([])
        runs[-1].append(event)
    return runs


def _sent(run: list[dict[str, Any]], stage: str) -> int:
    return sum(1 for ev in run if ev["event"] in ("request.completed", "request.failed")
               and ev.get("stage") == stage and not ev.get("final"))


def _arrivals(url: str) -> Counter[str]:
    return Counter(httpx.get(url.removesuffix("/v1") + "/sim/stats").json()["arrivals"])


def _in_flight(url: str) -> int:
    """Requests the simulator has received and not yet answered (no faults in these tests)."""
    stats = httpx.get(url.removesuffix("/v1") + "/sim/stats").json()
    return sum(stats["arrivals"].values()) - stats["counts"].get("ok", 0)


def _kill_when(proc: subprocess.Popen[bytes], ready: Any, limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    while not ready() and proc.poll() is None:
        assert time.monotonic() < deadline, "never ready to kill"
        time.sleep(0.02)
    proc.kill()
    assert proc.wait() == -signal.SIGKILL


def _lines(path: Path, needle: bytes = b"\n") -> int:
    return path.read_bytes().count(needle) if path.exists() else 0


def _whole(out: Path) -> None:
    """Every JSONL file of the directory ends with a whole line."""
    for name in ("tasks.jsonl", "events.jsonl", "spend.jsonl", "journal.jsonl",
                 layout.RESCUE_FILE):
        path = out / name
        if path.exists() and path.stat().st_size:
            assert path.read_bytes().endswith(b"\n"), name
            source = JsonlFile(path)
            list(source)
            assert source.torn_line is None, name


def test_kill_9_in_flight_is_rescued_and_the_resume_does_not_buy_it_again(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    with sim_process("--books", str(tmp_path / "books.jsonl"), "--latency-ms", "700",
                     "--seed", "3") as url:
        argv = _argv(out, url, "--target-instructions", "30")
        first = subprocess.Popen(argv)
        # killed while the provider holds requests (on a loaded machine the run may have read
        # every answer sent to it so far: then none would arrive after its death)
        _kill_when(first, lambda: _lines(out / "tasks.jsonl") >= 3 and _in_flight(url) >= 2)
        pid = _courier_pid(out)
        assert _alive(pid)  # the run is dead; its courier finishes what it had in flight
        assert _gone_within(pid, TIMEOUT_S + 1.0) <= TIMEOUT_S + 1.0
        kept = rescue.read(out / layout.RESCUE_FILE)
        stages = Counter(answer.stage for answer in kept if answer.usable)
        assert stages["classify"] + stages["instances"] > 0, stages
        billed_at_kill = fetch_totals(url)["billed_usd"]
        assert spend.recover(out / layout.SPEND_FILE).figure_usd >= billed_at_kill
        before = _arrivals(url)

        assert subprocess.run(argv, timeout=60).returncode == 0
        after = _arrivals(url)
        billed = fetch_totals(url)["billed_usd"]
        _gone_within(_courier_pid(out), TIMEOUT_S + 1.0)
    resumed = _runs(_events(out))[-1]
    used = Counter(ev["stage"] for ev in resumed if ev["event"] == "request.rescued")
    assert used["classify"] + used["instances"] > 0
    # at the provider, the resumed run sent only what it logged as sent: no rescued answer
    # was bought again
    assert after["classify"] - before["classify"] == _sent(resumed, "classify")
    instances = after["input_first"] + after["output_first"]
    assert instances - before["input_first"] - before["output_first"] \
        == _sent(resumed, "instances")
    started = resumed[0]
    # settled at the bill: every kept answer but those the killed run may have read itself
    assert 0 < started["rescued"]["settled"] == sum(not a.delivered for a in kept)
    assert started["rescued"]["settled_usd"] < 0  # held worst cases replaced by the bill
    figure = spend.recover(out / layout.SPEND_FILE).figure_usd
    assert figure >= billed
    assert figure == resumed[-1]["cost_usd_all_runs"]
    _whole(out)


def test_a_rescued_answer_is_used_once_across_two_kills(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with sim_process("--latency-ms", "600", "--seed", "4") as url:
        argv = _argv(out, url, "--target-instructions", "40")
        first = subprocess.Popen(argv)
        _kill_when(first, lambda: _lines(out / "tasks.jsonl") >= 3)
        _gone_within(_courier_pid(out), TIMEOUT_S + 1.0)
        second = subprocess.Popen(argv)  # killed once it has used a rescued answer
        _kill_when(second, lambda: _lines(out / "events.jsonl", b'"request.rescued"') >= 2)
        _gone_within(_courier_pid(out), TIMEOUT_S + 1.0)
        assert subprocess.run(argv, timeout=60).returncode == 0
    events = _events(out)
    uses = Counter(ev["rescue_id"] for ev in events if ev["event"] == "request.rescued")
    assert uses and max(uses.values()) == 1, uses.most_common(3)
    runs = _runs(events)
    assert {ev["rescue_id"] for ev in runs[1] if ev["event"] == "request.rescued"}
    # each answer's money is settled once, at the first start after the kill that kept it:
    # the third run settles only the second's answers, and carries the first's unused ones
    first_kept = runs[1][0]["rescued"]["settled"]
    assert runs[0][0]["rescued"]["settled"] == 0 and first_kept > 0
    third = runs[2][0]["rescued"]
    assert third["settled"] < third["answers"] or third["settled"] == third["answers"]
    assert all(not a.settled or a.run != runs[2][0]["run_id"]
               for a in rescue.read(out / layout.RESCUE_FILE))
    _whole(out)


def test_the_courier_outlives_a_ctrl_c_to_the_process_group_while_the_run_drains(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    with sim_process("--latency-ms", "900", "--seed", "5") as url:
        run = subprocess.Popen(_argv(out, url, "--target-instructions", "500"),
                               start_new_session=True)  # its own process group, as a shell
        deadline = time.monotonic() + 30
        while spend.recover(out / layout.SPEND_FILE).held_usd <= 0:  # requests in flight
            assert time.monotonic() < deadline and run.poll() is None
            time.sleep(0.02)
        pid = _courier_pid(out)
        os.killpg(run.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        assert run.wait(timeout=30) == 0
        assert _alive(pid) or _gone_within(pid, 0.1) >= 0
        _gone_within(pid, TIMEOUT_S + 1.0)
    events = _events(out)
    finished = [ev for ev in events if ev["event"] == "run.finished"]
    assert finished[-1]["reason"] == "signal"
    failed = [ev for ev in events if ev["event"] == "request.failed"]
    assert not failed, failed[:2]
    completed = [ev for ev in events if ev["event"] == "request.completed"]
    stopping = next(i for i, ev in enumerate(events) if ev["event"] == "run.stopping")
    assert any(events.index(ev) > stopping for ev in completed)  # the drain was answered


def test_with_the_embedded_simulator_a_kill_leaves_no_courier_behind(tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "asyncgen", "run", "--out", str(out), "--log-format", "none",
            "--target-instructions", "2000", "--timeout", str(TIMEOUT_S)]
    run = subprocess.Popen(argv)
    _kill_when(run, lambda: _lines(out / "tasks.jsonl") >= 5)
    _gone_within(_courier_pid(out), TIMEOUT_S + 1.0)  # its simulator died with the run
    _whole(out)


async def _client_with(out: Path, url: str, answers: list[rescue.Answer]) -> tuple[str, int]:
    """One classify completion through a courier holding `answers`; its text and attempts."""
    config = ProviderConfig(provider="sim", base_url=url, transport="courier")
    transport = CourierTransport(run_id="test", rescue=out / layout.RESCUE_FILE,
                                 lock=out / COURIER_LOCK_FILE)
    async with LLMClient(config, transport=transport, rescue=rescue.Rescue(answers)) as client:
        completion = await client.complete("classify", PROMPT)
    return completion.text, completion.attempts


PROMPT = classify_prompt([Demo("Is it a question?", True, ())], "Sort the list.")


def test_a_matching_request_is_answered_from_the_rescue_once(tmp_path: Path) -> None:
    out = tmp_path
    config = ProviderConfig(transport="aiohttp", provider="sim", base_url="http://x/v1")
    body = LLMClient(config).body(PROMPT, config.params["classify"])
    answer = {"choices": [{"message": {"content": "Yes"}, "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 10, "completion_tokens": 1, "cost": 0.000001}}
    (out / layout.RESCUE_FILE).write_bytes(rescue.answer_line(
        id="dead-1", run="dead", stage="classify", body=body, reservation=7,
        reserved_usd=0.001, status=200, headers={}, answer=orjson.dumps(answer)))
    with sim_process("--seed", "1") as url:
        kept = rescue.read(out / layout.RESCUE_FILE)
        assert anyio.run(_client_with, out, url, kept) == ("Yes", 1)
        assert _arrivals(url)["classify"] == 0  # answered without sending
        _gone_within(_courier_pid(out), 2.0)
        assert rescue.read(out / layout.RESCUE_FILE) == []  # marked used
        anyio.run(_client_with, out, url, kept[:0])
        assert _arrivals(url)["classify"] == 1


async def _post_cancelled(url: str, out: Path) -> None:
    config = ProviderConfig(provider="sim", base_url=url, transport="courier")
    transport = CourierTransport(run_id="live", rescue=out / layout.RESCUE_FILE,
                                 lock=out / COURIER_LOCK_FILE)
    async with LLMClient(config, transport=transport) as client:
        with anyio.move_on_after(0.4):
            await client.complete("classify", PROMPT)


def test_a_cancelled_request_is_kept_and_errors_map_as_in_process(tmp_path: Path) -> None:
    with sim_process("--seed", "1", "--latency-ms", "800") as url:
        anyio.run(_post_cancelled, url, tmp_path)
        _gone_within(_courier_pid(tmp_path), 3.0)
    kept = rescue.read(tmp_path / layout.RESCUE_FILE)
    assert [(a.stage, a.status, a.run) for a in kept] == [("classify", 200, "live")]

    async def refused() -> e.ProviderError:
        config = ProviderConfig(provider="sim", base_url="http://127.0.0.1:9/v1",
                                transport="courier", max_attempts=1)
        async with LLMClient(config) as client:
            with pytest.raises(e.ProviderError) as caught:
                await client.complete("classify", PROMPT)
        return caught.value

    err = anyio.run(refused)
    assert isinstance(err, e.ItemError) and err.kind == "retries_exhausted"
    assert "connection refused" in str(err)


def test_only_answers_the_killed_run_never_read_are_settled_again(tmp_path: Path) -> None:
    """A delivered answer may have been settled by the run that read it: settling it again
    would put the spend figure below the bill."""
    from types import SimpleNamespace

    from asyncgen.commands.run import _take_over_rescued

    billed = {"choices": [{"message": {"content": "No"}, "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 10, "completion_tokens": 1, "cost": 0.0001}}
    path = tmp_path / layout.RESCUE_FILE
    path.write_bytes(b"".join(
        rescue.answer_line(id=f"dead-{n}", run="dead", stage="classify", body=b"%d" % n,
                           reservation=n, reserved_usd=0.001, status=200, headers={},
                           answer=orjson.dumps(billed), delivered=n == 2)
        for n in (1, 2)))
    p = SimpleNamespace(rescued=rescue.read(path), config=SimpleNamespace(out=tmp_path,
                                                                          endpoints=()),
                        provider=ProviderConfig(transport="aiohttp", provider="sim", base_url="http://x/v1"),
                        endpoints=())
    taken = _take_over_rescued(p)  # type: ignore[arg-type]
    assert (taken.settled, taken.settled_usd) == (1, pytest.approx(0.0001 - 0.001))
    assert all(a.settled for a in rescue.read(path))  # written before the spend line
    assert _take_over_rescued(SimpleNamespace(  # type: ignore[arg-type]
        rescued=rescue.read(path), config=p.config, provider=p.provider,
        endpoints=())).settled == 0


def test_a_torn_tail_of_the_rescue_file_is_cut_before_the_courier_appends(tmp_path: Path) -> None:
    """A courier killed mid-write leaves a torn last line; when the next run has no answer to
    rewrite the file with, its courier must not append onto that half line (a corrupt line
    in the middle of the file: no run could resume the directory)."""
    line = rescue.answer_line(id="dead-1", run="dead", stage="classify", body=b"{}",
                              reservation=1, reserved_usd=0.001, status=200, headers={},
                              answer=b"{}")
    path = tmp_path / layout.RESCUE_FILE
    path.write_bytes(line[: len(line) // 2])
    assert rescue.read(path) == []  # a torn tail alone: nothing to rewrite the file with
    with sim_process("--seed", "1", "--latency-ms", "800") as url:
        anyio.run(_post_cancelled, url, tmp_path)
        _gone_within(_courier_pid(tmp_path), 3.0)
    kept = rescue.read(path)
    assert [(a.stage, a.status, a.run) for a in kept] == [("classify", 200, "live")]
    assert path.read_bytes().endswith(b"\n")


def test_the_key_is_not_in_the_couriers_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key reaches the courier only in a frame: not in /proc/PID/cmdline nor environ of a
    process that outlives its run."""
    key = "sk-courier-test-0123456789"
    for variable in ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "ASYNCGEN_API_KEY"):
        monkeypatch.setenv(variable, key)

    def proc(pid: int | None) -> bytes:
        return b"".join(Path(f"/proc/{pid}/{name}").read_bytes() for name in ("environ", "cmdline"))

    async def seen() -> tuple[int, bytes]:
        async with CourierTransport(run_id="k", lock=tmp_path / COURIER_LOCK_FILE) as transport:
            return transport.pid or 0, proc(transport.pid)

    pid, visible = anyio.run(seen)
    _gone_within(pid, 3.0)
    read, leaked = b"PATH=" in visible, key.encode() in visible  # (no environment in a failure)
    assert read and not leaked


def test_a_courier_that_does_not_start_in_time_is_a_courier_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a TimeoutError: that is an OSError, which the run reports as a file it cannot
    write."""
    from asyncgen.llm.transport import couriered

    monkeypatch.setattr(couriered, "START_TIMEOUT_S", 1e-6)

    async def enter() -> None:
        async with CourierTransport(run_id="slow", lock=tmp_path / COURIER_LOCK_FILE):
            pass

    with pytest.raises(CourierFailed, match="did not start within"):
        anyio.run(enter)
    os.close(courier.lock(tmp_path / COURIER_LOCK_FILE))  # its launcher was ended: no courier


def test_an_answer_whose_used_mark_cannot_be_written_is_not_used(tmp_path: Path) -> None:
    """The courier acknowledges a `used` mark only once it is on disk: an answer used without
    its mark would be used again by the next run."""
    out = tmp_path
    config = ProviderConfig(transport="aiohttp", provider="sim", base_url="http://x/v1")
    body = LLMClient(config).body(PROMPT, config.params["classify"])
    answer = {"choices": [{"message": {"content": "Yes"}, "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 10, "completion_tokens": 1, "cost": 0.000001}}
    path = out / layout.RESCUE_FILE
    path.write_bytes(rescue.answer_line(
        id="dead-1", run="dead", stage="classify", body=body, reservation=7,
        reserved_usd=0.001, status=200, headers={}, answer=orjson.dumps(answer)))
    kept = rescue.read(path)
    path.unlink()
    path.symlink_to("/dev/full")  # every write: ENOSPC
    with sim_process("--seed", "1") as url:
        assert anyio.run(_client_with, out, url, kept)[1] == 1
        assert _arrivals(url)["classify"] == 1  # sent, not answered from the rescue


def test_a_post_that_meets_a_dead_courier_fails_at_once(tmp_path: Path) -> None:
    """The courier dies and the loop has not seen its end of file yet: the first post's route
    frame meets the closed socket. The post fails (CourierFailed), it does not wait forever."""
    from aiohttp import ClientTimeout


    async def post() -> BaseException | None:
        async with CourierTransport(run_id="r", lock=tmp_path / COURIER_LOCK_FILE) as transport:
            assert transport.pid is not None
            os.kill(transport.pid, signal.SIGKILL)
            _gone_within(transport.pid, 3.0)  # blocking: the loop does not see it go
            try:
                with anyio.fail_after(5):
                    await transport.post("http://127.0.0.1:9/v1/chat/completions", {}, b"{}",
                                         ClientTimeout(total=2.0))
            except (CourierFailed, TimeoutError) as exc:
                return exc
        return None

    caught = anyio.run(post)
    assert isinstance(caught, CourierFailed) and not caught.maybe_billed


def test_a_post_the_provider_received_before_the_courier_died_is_maybe_billed(
        tmp_path: Path) -> None:
    """The post frame went to the kernel (a loop turn after `post`), the courier sent it and the
    simulator received it; then the courier is killed: the post fails as maybe billed (its
    reservation is spent), not as never sent, though frames are written once per loop turn."""
    from aiohttp import ClientTimeout

    async def post(url: str) -> BaseException | None:
        async with CourierTransport(run_id="r", lock=tmp_path / COURIER_LOCK_FILE) as transport:
            assert transport.pid is not None
            pid = transport.pid

            def seen() -> int:
                return sum(_arrivals(url).values())

            async def kill_once_received() -> None:
                with anyio.fail_after(10):
                    while not await anyio.to_thread.run_sync(seen):  # noqa: ASYNC110
                        await anyio.sleep(0.02)  # (polled: another process)
                os.kill(pid, signal.SIGKILL)

            config = ProviderConfig(transport="aiohttp", provider="sim", base_url=url)
            body = LLMClient(config).body(PROMPT, config.params["classify"])
            caught: list[BaseException] = []
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(kill_once_received)
                    with anyio.fail_after(10):
                        await transport.post(f"{url}/chat/completions",
                                             {"Content-Type": "application/json"}, body,
                                             ClientTimeout(total=8.0))
            except* CourierFailed as group:
                caught.extend(group.exceptions)
        return caught[0] if caught else None

    with sim_process("--seed", "1", "--latency-ms", "3000") as url:
        caught = anyio.run(post, url)
    assert isinstance(caught, CourierFailed) and caught.maybe_billed


def test_a_new_holder_of_the_lock_clears_the_last_couriers_note(tmp_path: Path) -> None:
    """Between a run taking the lock and its courier writing its own note, the file still held
    the last courier's pid and past `until`: a resume then waited 1 s instead of its bound and
    told the user to end a process that was long gone."""
    path = tmp_path / COURIER_LOCK_FILE
    path.write_bytes(orjson.dumps({"pid": 1, "until": time.time() - 60}))
    fd = courier.lock(path)  # a run starting its courier (still starting)
    said: list[str] = []
    try:
        started = time.monotonic()
        with pytest.raises(RuntimeError):
            courier.wait_for_previous(tmp_path / COURIER_LOCK_FILE, bound_s=2.0, say=said.append)
        waited = time.monotonic() - started
    finally:
        os.close(fd)
    assert "up to 2s" in said[0] and "pid 1" not in said[0]
    assert waited >= 2.0
