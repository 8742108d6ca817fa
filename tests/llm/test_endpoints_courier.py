"""A pool of endpoints shares one courier: a run kill -9'd with requests in flight at two
simulators leaves their answers in the one rescue file, each tagged with its endpoint; the
resumed run settles and uses them instead of buying them again. Real processes, a real
SIGKILL, and the simulators' own books (each billed request with its prompt's digest)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from asyncgen.jsonl import JsonlFile
from asyncgen.llm.transport import rescue
from asyncgen.rundir import layout, spend
from asyncgen.rundir.layout import COURIER_LOCK_FILE
from asyncgen.sim.books import fetch_totals
from tests.conftest import sim_process

TIMEOUT_S = 3.0
PRICES = {"a": (0.5, 1.5, 0.05), "b": (2.0, 6.0, 0.2)}  # USD per 1M tokens: in, out, cached
TARGET = 40
STAGES = ("classify", "input_first", "output_first")  # prompts a pure function of the task


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def _courier_gone(out: Path) -> None:
    """Wait (bounded) until the courier named in the lock file has exited."""
    deadline = time.monotonic() + 10
    while not (data := (out / COURIER_LOCK_FILE).read_bytes()):
        assert time.monotonic() < deadline, "the courier never started"
        time.sleep(0.01)
    pid = int(orjson.loads(data)["pid"])
    while _alive(pid):
        assert time.monotonic() < deadline + TIMEOUT_S, f"courier {pid} still alive"
        time.sleep(0.02)


def _bills(path: Path) -> list[dict[str, Any]]:
    return [record for _, record in JsonlFile(path)] if path.exists() else []


def _events(out: Path) -> list[dict[str, Any]]:
    return [record for _, record in JsonlFile(out / "events.jsonl")]


def test_a_pools_kill_9_is_rescued_per_endpoint_and_never_bought_again(tmp_path: Path) -> None:
    out = tmp_path / "out"
    config = tmp_path / "run.toml"
    books = {"a": tmp_path / "a.jsonl", "b": tmp_path / "b.jsonl"}
    with sim_process("--books", str(books["a"]), "--latency-ms", "700", "--seed", "1") as a, \
            sim_process("--books", str(books["b"]), "--latency-ms", "700", "--seed", "2",
                        "--price-in", "2", "--price-out", "6", "--price-cached", "0.2") as b:
        urls = {"a": a, "b": b}  # b twice as dear: each answer is settled at its own price
        config.write_text('model = "ref-1"\n' + "".join(
            f'[[endpoints]]\nname = "{name}"\nbase_url = "{url}"\nrpm = 6000\n'
            f"price_in = {PRICES[name][0]}\nprice_out = {PRICES[name][1]}\n"
            f"price_cached = {PRICES[name][2]}\n"
            for name, url in urls.items()))
        argv = [sys.executable, "-m", "asyncgen", "run", "--out", str(out), "--config",
                str(config), "--target-instructions", str(TARGET), "--log-format", "none",
                "--seed", "3", "--timeout", str(TIMEOUT_S)]
        first = subprocess.Popen(argv)
        deadline = time.monotonic() + 40
        # killed once tasks are written and both simulators have requests in flight
        while not ((out / "tasks.jsonl").exists()
                   and (out / "tasks.jsonl").read_bytes().count(b"\n") >= 3
                   and all(fetch_totals(url, settled=False)["pending"] > 0
                           for url in urls.values())):
            assert first.poll() is None and time.monotonic() < deadline, "never ready to kill"
            time.sleep(0.02)
        first.kill()
        assert first.wait() == -signal.SIGKILL
        _courier_gone(out)  # the pool's one courier finished what both had in flight
        everything = rescue.read(out / layout.RESCUE_FILE)
        kept = [answer for answer in everything if answer.usable]
        by_endpoint = Counter(answer.endpoint for answer in kept)
        assert by_endpoint["a"] > 0 and by_endpoint["b"] > 0, by_endpoint
        assert set(by_endpoint) == {"a", "b"}
        billed_at_kill = sum(fetch_totals(url)["billed_usd"] for url in urls.values())
        assert spend.recover(out / layout.SPEND_FILE).figure_usd >= billed_at_kill

        resumed_at = time.time()  # the killed run's courier is gone: its bills are all before
        assert subprocess.run(argv, timeout=90).returncode == 0
        _courier_gone(out)
        billed = sum(fetch_totals(url)["billed_usd"] for url in urls.values())
    bills = {name: _bills(path) for name, path in books.items()}
    # each rescued answer is the bill its endpoint's simulator wrote for it (its response id)
    digest_of = {(name, bill["id"]): bill["prompt_digest"]
                 for name, lines in bills.items() for bill in lines}
    rescued = {digest_of[(answer.endpoint, orjson.loads(answer.body)["id"])] for answer in kept}
    # no answer the courier kept is bought again after the kill, at its simulator or at the
    # other one: it is used instead. (An answer the killed run had read, and whose work it had
    # not journaled yet, is not kept: that request is sent again, as with one endpoint. A
    # prompt the pipeline itself asked twice before the kill, a duplicate classification seen
    # with one endpoint too, may be asked twice again: left out.)
    before, after = Counter[str](), Counter[str]()
    for lines in bills.values():
        for bill in lines:
            if bill["kind"] in STAGES:
                (before if bill["t"] < resumed_at else after)[bill["prompt_digest"]] += 1
    once = {digest for digest in rescued if before[digest] == 1}
    assert after and once and not once & set(after), once & set(after)
    events = _events(out)
    resumed = events[max(i for i, e in enumerate(events) if e["event"] == "run.started"):]
    used = {e["rescue_id"] for e in resumed if e["event"] == "request.rescued"}
    # answers rescued from both endpoints are adopted by the resumed run
    assert {answer.endpoint for answer in kept if answer.id in used} == {"a", "b"}
    started, finished = resumed[0], resumed[-1]
    # each settled at its endpoint's bill, once: all but those the killed run may have read
    assert started["rescued"]["settled"] == sum(
        not a.delivered and a.reservation is not None for a in everything)
    assert finished["event"] == "run.finished" and finished["reason"] == "target"
    figure = spend.recover(out / layout.SPEND_FILE).figure_usd
    assert figure >= billed  # never below what the two simulators billed
    tasks = [json.loads(line) for line in (out / "tasks.jsonl").read_text().splitlines()]
    assert len(tasks) >= TARGET
    assert len({task["instruction"] for task in tasks}) == len(tasks)


PROMPT = "Given the task definition, say whether it is a classification task.\nTask: Sort words."


def test_one_courier_serves_two_endpoints_until_its_last_user_exits(tmp_path: Path) -> None:
    """The pool's transport is entered first and exited last: the clients' exits do not end
    the courier; each cancelled request's answer is kept, tagged with its client's endpoint."""
    import anyio

    from asyncgen.llm import LLMClient, ProviderConfig
    from asyncgen.llm.transport.couriered import CourierTransport

    async def main(urls: dict[str, str]) -> tuple[int, bool]:
        async with CourierTransport(run_id="pool", rescue=tmp_path / layout.RESCUE_FILE,
                                    lock=tmp_path / COURIER_LOCK_FILE) as shared:
            assert shared.pid is not None
            for name, url in urls.items():
                config = ProviderConfig(provider="sim", base_url=url, transport="courier")
                async with LLMClient(config, transport=shared, name=name) as client:
                    with anyio.move_on_after(0.4):
                        await client.complete("classify", PROMPT)
            return shared.pid, _alive(shared.pid)  # both clients out, the pool still in

    with sim_process("--seed", "1", "--latency-ms", "800") as a, \
            sim_process("--seed", "2", "--latency-ms", "800") as b:
        pid, alive = anyio.run(main, {"a": a, "b": b})
        _courier_gone(tmp_path)
    assert alive and not _alive(pid)
    kept = rescue.read(tmp_path / layout.RESCUE_FILE)
    assert sorted((x.endpoint, x.stage, x.status, x.run) for x in kept) == [
        ("a", "classify", 200, "pool"), ("b", "classify", 200, "pool")]
