"""Client benchmark: throughput against raw aiohttp, RPM utilisation, fault handling.

A script, not a test. It starts the simulator as a subprocess (`python -m asyncgen.sim`) and
reads its URL from the first line of its stdout.

    python bench/bench_client.py                      # everything (about 20 minutes)
    python bench/bench_client.py --only throughput --seconds 5 --rounds 3
    python bench/bench_client.py --only rpm --rpm-seconds 60
    python bench/bench_client.py --only faults --fault-requests 2000

(a) raw aiohttp ClientSession, (b) LLMClient over the aiohttp transport in-process, (b') the
same through a courier process (`--transport courier`, a run's default: the HTTP exchange in a
child process that keeps answers across a kill -9; its CPU is not in "client CPU"), (c)
LLMClient over plain httpx: req/s at each concurrency, the variants interleaved round by round
(the machine is shared), events written to a JSONL file as in a real run, with RPM/TPM
limiters, retries, usage and a budget ledger on; and (b) again with events dropped, to show
what they cost.
(d) achieved RPM against a simulator enforcing --rpm-limit with 200 ms latency. (e) 20% of
each fault kind: outcomes, unhandled exceptions, hung tasks, asyncio debug-mode slow callbacks.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import os
import platform
import pstats
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import orjson
import structlog

from asyncgen.llm import LLMClient, ProviderConfig, ProviderError
from asyncgen.llm.budget import Budget
from asyncgen.selfinstruct.prompts import Demo, classify_prompt
from asyncgen.sim.embedded import simulator_process as simulator

CONCURRENCIES = (64, 256)
WARMUP_S = 0.5
TARGET_RATIO = 0.70
PROMPT = classify_prompt(
    [
        Demo("Is the sentiment of this review positive or negative?", True, ()),
        Demo("Write a short poem about the sea.", False, ()),
        Demo("Classify the sentence as a question or a statement.", True, ()),
        Demo("Summarise the paragraph in one sentence.", False, ()),
    ],
    "Sort the numbers from smallest to largest.",
)
FAULT_FLAGS = ("429", "5xx", "hang", "reset", "malformed", "200-error")


def configure_events(directory: Path) -> None:
    """structlog as a run configures it: every event to events.jsonl, nothing on the console."""
    from asyncgen.observe import events

    events.configure(events_path=directory / "events.jsonl", console_format="none")


# --- (a), (b), (c): throughput ---------------------------------------------------------


class Counted:
    """Completed and failed requests of one timed run."""

    __slots__ = ("ok", "failed")

    def __init__(self) -> None:
        self.ok = 0
        self.failed = 0


Measured = tuple[float, int, float]  # req/s, failed requests, client CPU µs per request


async def _timed(concurrency: int, seconds: float, one: Callable[[], Awaitable[None]]) -> Measured:
    """Run `concurrency` loops of `one` for WARMUP_S + seconds: req/s after the warm-up, and
    this process's CPU time per request (steadier than req/s on a shared machine)."""
    counted = Counted()

    async def loop() -> None:
        while True:
            try:
                await one()
                counted.ok += 1
            except ProviderError:
                counted.failed += 1

    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(loop)
        await anyio.sleep(WARMUP_S)
        start_ok, start, cpu = counted.ok, time.perf_counter(), time.process_time()
        await anyio.sleep(seconds)
        done, elapsed = counted.ok - start_ok, time.perf_counter() - start
        cpu = time.process_time() - cpu
        tg.cancel_scope.cancel()
    return done / elapsed, counted.failed, cpu / max(done, 1) * 1e6


async def run_raw_aiohttp(url: str, concurrency: int, seconds: float) -> Measured:
    """(a) aiohttp ClientSession: POST, read, decode JSON. Nothing else."""
    body = orjson.dumps(
        {
            "model": "sim-1",
            "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": 3,
            "temperature": 0.0,
            "stop": ["\n", "Task:"],
        }
    )
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}
    target = f"{url}/chat/completions"
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> None:
            async with session.post(target, data=body, headers=headers) as response:
                data = await response.read()
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}")
                orjson.loads(data)

        return await _timed(concurrency, seconds, one)


def client_config(url: str, concurrency: int, transport: str, **options: Any) -> ProviderConfig:
    """The benchmark's client: every limit on, set far above what the run can reach."""
    settings: dict[str, Any] = {
        "provider": "sim",
        "base_url": url,
        "transport": transport,
        "max_concurrency": concurrency,
        "rpm": 100_000_000,
        "tpm": 10_000_000_000,
    }
    settings.update(options)
    return ProviderConfig(**settings)


async def run_client(url: str, concurrency: int, seconds: float, transport: str) -> Measured:
    """(b)/(c) LLMClient: limits, retries, usage, cost, budget ledger and events on."""
    config = client_config(url, concurrency, transport)
    async with LLMClient(config, budget=Budget(1_000_000.0)) as client:

        async def one() -> None:
            await client.complete("classify", PROMPT)

        return await _timed(concurrency, seconds, one)


async def run_client_quiet(url: str, concurrency: int, seconds: float) -> Measured:
    """(b) with events dropped at the logger: what events.jsonl costs per request."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    try:
        return await run_client(url, concurrency, seconds, "aiohttp")
    finally:
        structlog.configure(**saved)


VARIANTS: dict[str, Callable[[str, int, float], Awaitable[Measured]]] = {
    "raw aiohttp": run_raw_aiohttp,
    "LLMClient / aiohttp transport": lambda u, c, s: run_client(u, c, s, "aiohttp"),
    "LLMClient / courier (a run's default)": lambda u, c, s: run_client(u, c, s, "courier"),
    "LLMClient / plain httpx": lambda u, c, s: run_client(u, c, s, "httpx"),
    "(b) without events.jsonl": run_client_quiet,
}


Results = dict[int, dict[str, list[tuple[float, float]]]]  # concurrency -> variant -> runs


async def throughput(url: str, seconds: float, rounds: int) -> Results:
    """Every variant at every concurrency, interleaved: round r starts at variant r."""
    results: Results = {c: {v: [] for v in VARIANTS} for c in CONCURRENCIES}
    names = list(VARIANTS)
    for concurrency in CONCURRENCIES:
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                rate, failed, cpu_us = await VARIANTS[name](url, concurrency, seconds)
                results[concurrency][name].append((rate, cpu_us))
                print(
                    f"  c={concurrency} round {r + 1}: {name}: {rate:,.0f} req/s, "
                    f"{cpu_us:,.0f} µs CPU/request" + (f" ({failed} failed)" if failed else ""),
                    file=sys.stderr,
                    flush=True,
                )
    return results


def print_throughput(results: Results) -> None:
    """Markdown table: median req/s and CPU per request, and the ratios to raw aiohttp."""
    print(
        "| concurrency | variant | req/s (median) | req/s per round | vs raw aiohttp "
        "| client CPU µs/request (median) | raw aiohttp CPU / this CPU |"
    )
    print("|---:|---|---:|---|---:|---:|---:|")
    for concurrency, by_variant in results.items():
        raw_rate = statistics.median(rate for rate, _ in by_variant["raw aiohttp"])
        raw_cpu = statistics.median(cpu for _, cpu in by_variant["raw aiohttp"])
        for name, runs in by_variant.items():
            rate = statistics.median(r for r, _ in runs)
            cpu = statistics.median(c for _, c in runs)
            shown = ", ".join(f"{r:,.0f}" for r, _ in runs)
            print(
                f"| {concurrency} | {name} | {rate:,.0f} | {shown} | {rate / raw_rate:.0%} "
                f"| {cpu:,.0f} | {raw_cpu / cpu:.0%} |"
            )


async def profile_client(url: str, seconds: float, concurrency: int) -> None:
    """cProfile of (b): where the client's time goes."""
    profiler = cProfile.Profile()
    profiler.enable()
    await run_client(url, concurrency, seconds, "aiohttp")
    profiler.disable()
    stats = pstats.Stats(profiler, stream=sys.stderr)
    stats.sort_stats("tottime").print_stats(25)


# --- (d): utilisation against an enforced RPM limit -------------------------------------


async def rpm_utilisation(url: str, rpm: int, seconds: float) -> dict[str, float]:
    """Workers send as fast as the client lets them; count completions in the window."""
    config = client_config(url, 64, "aiohttp", rpm=rpm, tpm=None, timeout_s=10)
    done = 0
    async with LLMClient(config) as client:

        async def loop() -> None:
            nonlocal done
            while True:
                await client.complete("classify", PROMPT)
                done += 1

        async with anyio.create_task_group() as tg:
            for _ in range(64):
                tg.start_soon(loop)
            start = time.perf_counter()
            await anyio.sleep(seconds)
            elapsed = time.perf_counter() - start
            completed = done
            tg.cancel_scope.cancel()
        stats = client.stats()
    attempts = stats["attempts"]
    rate_limited = stats["attempt_errors"].get("rate_limit", 0)
    achieved = completed / elapsed * 60
    return {
        "seconds": elapsed,
        "completed": completed,
        "achieved_rpm": achieved,
        "utilisation": achieved / rpm,
        "attempts": attempts,
        "rate_limited": rate_limited,
        "rate_limited_share": rate_limited / attempts if attempts else 0.0,
    }


# --- (e): faults --------------------------------------------------------------------------


class SlowCallbacks(logging.Handler):
    """Counts asyncio debug-mode 'Executing <...> took N seconds' warnings."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.durations: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Executing"):
            self.durations.append(message.rsplit(" took ", 1)[-1])


async def faults_run(url: str, requests: int, concurrency: int) -> dict[str, Any]:
    """`requests` requests through the client; each ends in success or a typed error."""
    loop = asyncio.get_running_loop()
    unhandled: list[str] = []
    loop.set_exception_handler(lambda _loop, context: unhandled.append(str(context)))
    outcomes: Counter[str] = Counter()
    config = client_config(url, concurrency, "aiohttp", rpm=None, tpm=None, timeout_s=1.0)
    hung = 0
    started = time.perf_counter()
    async with LLMClient(config) as client:
        queue = iter(range(requests))

        async def worker() -> None:
            for n in queue:
                try:
                    await client.complete("instances", f"Task: number {n}\n")
                    outcomes["ok"] += 1
                except ProviderError as err:
                    outcomes[err.kind] += 1
                except Exception as exc:  # noqa: BLE001  (the point: count what escapes)
                    outcomes[f"UNTYPED {type(exc).__name__}"] += 1

        with anyio.move_on_after(900) as scope:
            async with anyio.create_task_group() as tg:
                for _ in range(concurrency):
                    tg.start_soon(worker)
        if scope.cancelled_caught:
            hung = requests - sum(outcomes.values())
        stats = client.stats()
    leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    return {
        "outcomes": dict(outcomes),
        "unhandled": unhandled,
        "hung": hung,
        "leftover_tasks": len(leftover),
        "elapsed_s": time.perf_counter() - started,
        "attempt_errors": stats["attempt_errors"],
        "retries": stats["retries"],
    }


def faults(requests: int, concurrency: int) -> list[tuple[str, dict[str, Any], int]]:
    """Each fault kind at 20%, in asyncio debug mode with slow_callback_duration = 0.1 s."""
    rows = []
    for kind in FAULT_FLAGS:
        with simulator("--seed", "7", f"--fail-{kind}", "0.2") as url:
            watcher = SlowCallbacks()
            logging.getLogger("asyncio").addHandler(watcher)
            try:
                with asyncio.Runner(debug=True) as runner:
                    runner.get_loop().slow_callback_duration = 0.1
                    result = runner.run(faults_run(url, requests, concurrency))
            finally:
                logging.getLogger("asyncio").removeHandler(watcher)
            print(f"  fault {kind}: {result}", file=sys.stderr, flush=True)
            rows.append((kind, result, len(watcher.durations)))
    return rows


def print_faults(rows: list[tuple[str, dict[str, Any], int]], requests: int) -> None:
    """Markdown table of (e)."""
    print(
        "| fault (20%) | ok | typed errors | untyped | unhandled | hung | slow callbacks "
        "(>100 ms) | retries | time |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for kind, result, slow in rows:
        outcomes = result["outcomes"]
        typed = {k: v for k, v in outcomes.items() if k != "ok" and not k.startswith("UNTYPED")}
        untyped = sum(v for k, v in outcomes.items() if k.startswith("UNTYPED"))
        shown = ", ".join(f"{k} {v}" for k, v in typed.items()) or "none"
        total = sum(outcomes.values())
        print(
            f"| {kind} | {outcomes.get('ok', 0)}/{requests} | {shown} | {untyped} | "
            f"{len(result['unhandled'])} | {result['hung'] + requests - total} | {slow} | "
            f"{result['retries']} | {result['elapsed_s']:.0f} s |"
        )


# --- main -------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("throughput", "rpm", "faults"), default=None)
    parser.add_argument("--seconds", type=float, default=5.0, help="per throughput run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved throughput rounds")
    parser.add_argument("--rpm", type=int, default=3000)
    parser.add_argument("--rpm-seconds", type=float, default=60.0)
    parser.add_argument("--fault-requests", type=int, default=2000)
    parser.add_argument("--fault-concurrency", type=int, default=64)
    parser.add_argument("--profile", action="store_true", help="cProfile (b) at c=64 first")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the simulator on the way out

    print(
        f"date {time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores "
        f"(shared with other jobs), Python {platform.python_version()}, "
        f"aiohttp {aiohttp.__version__}"
    )
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}\n")
    with tempfile.TemporaryDirectory() as tmp:
        configure_events(Path(tmp))
        if args.only in (None, "throughput"):
            with simulator("--seed", "1") as url:
                if args.profile:
                    asyncio.run(profile_client(url, args.seconds, 64))
                results = asyncio.run(throughput(url, args.seconds, args.rounds))
            print(
                f"### Throughput ({args.seconds:g} s per run, {args.rounds} interleaved rounds, "
                "simulator at zero latency)\n"
            )
            print_throughput(results)
            print()
        if args.only in (None, "rpm"):
            with simulator(
                "--seed", "2", "--rpm-limit", str(args.rpm), "--latency-ms", "200"
            ) as url:
                result = asyncio.run(rpm_utilisation(url, args.rpm, args.rpm_seconds))
            print(
                f"### Utilisation against an enforced {args.rpm} RPM, 200 ms latency, "
                f"{args.rpm_seconds:g} s\n"
            )
            print("| achieved RPM | % of limit | completed | attempts | 429s | % 429 |")
            print("|---:|---:|---:|---:|---:|---:|")
            print(
                f"| {result['achieved_rpm']:,.0f} | {result['utilisation']:.1%} | "
                f"{result['completed']:,.0f} | {result['attempts']:,} | "
                f"{result['rate_limited']} | {result['rate_limited_share']:.2%} |\n"
            )
        if args.only in (None, "faults"):
            rows = faults(args.fault_requests, args.fault_concurrency)
            print(
                f"### Faults: 20% of each kind, {args.fault_requests} requests, concurrency "
                f"{args.fault_concurrency}, asyncio debug mode, slow_callback_duration 0.1 s\n"
            )
            print_faults(rows, args.fault_requests)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
