"""Spend-journal benchmark: its cost on the client's hot path, and spend recovery at scale.

A script, not a test.

    python bench/bench_journal.py                       # both parts (about 2 minutes)
    python bench/bench_journal.py --only hot-path --seconds 5 --rounds 5
    python bench/bench_journal.py --only recovery --tasks 100000
    python bench/bench_journal.py --only cap --seeds 1,2,3

(a) Hot path: LLMClient against the simulator (zero latency, classify prompts), a run's
events.jsonl on, budget ledger on, with and without the spend journal (OUT/spend.jsonl: one
write(2) per reservation and per settlement), interleaved round by round in one process so
the shared machine's load falls on both alike; req/s and client CPU µs per request. Also the
ledger alone: µs per reserve + settle pair, with and without the journal.
(b) Recovery: a journal with the lines of N tasks' worth of attempts (REQUESTS_PER_TASK each,
two lines per attempt), then the time `spend.recover` takes to learn the spend (it reads the
last line), against decoding every line (what reading the spend from a log would cost).
(c) The cap at the provider (issue 8's scenario): `asyncgen sim --books` with 5% hangs
(300 ± 150 ms latency), `asyncgen run --budget-usd 0.05 --timeout 2 --max-concurrency 6`,
kill -9 at 5 s, then two resumes; what the simulator billed (its books) against report's
total and run.finished's all-runs total.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from bench_client import PROMPT, Measured, _timed, client_config, configure_events

from asyncgen.llm import LLMClient
from asyncgen.llm.budget import Budget
from asyncgen.rundir import layout, spend
from asyncgen.sim.books import fetch_totals
from asyncgen.sim.embedded import simulator_process

CONCURRENCY = 64
REQUESTS_PER_TASK = 3.0  # generation share + classification + instances, retries included
VARIANTS = ("without journal", "with journal")


async def run_client(url: str, seconds: float, journal: spend.SpendJournal | None) -> Measured:
    """LLMClient with a budget ledger; its journal when given."""
    config = client_config(url, CONCURRENCY, "aiohttp")
    async with LLMClient(config, budget=Budget(1_000_000.0, journal=journal)) as client:

        async def one() -> None:
            await client.complete("classify", PROMPT)

        return await _timed(CONCURRENCY, seconds, one)


def ledger_pairs_us(journal: spend.SpendJournal | None, pairs: int = 200_000) -> float:
    """µs per reserve + settle of the ledger alone."""
    budget = Budget(None, journal=journal)
    start = time.perf_counter()
    for _ in range(pairs):
        budget.settle(budget.reserve(0.0004), 0.0002)
    return (time.perf_counter() - start) / pairs * 1e6


def hot_path(seconds: float, rounds: int, directory: Path) -> None:
    configure_events(directory)
    rates: dict[str, list[Measured]] = {v: [] for v in VARIANTS}
    pair_us: dict[str, list[float]] = {v: [] for v in VARIANTS}
    with simulator_process() as url:
        for r in range(rounds):
            for name in VARIANTS[r % 2 :] + VARIANTS[: r % 2]:
                path = directory / f"spend-{r}.jsonl"
                journal = spend.SpendJournal(path) if name == "with journal" else None
                try:
                    measured = asyncio.run(run_client(url, seconds, journal))
                finally:
                    if journal is not None:
                        journal.close()
                rates[name].append(measured)
                print(f"  round {r + 1}: {name}: {measured[0]:,.0f} req/s, "
                      f"{measured[2]:,.0f} µs CPU/request", file=sys.stderr, flush=True)
    for r in range(rounds):
        for name in VARIANTS[r % 2 :] + VARIANTS[: r % 2]:
            journal = (spend.SpendJournal(directory / f"pairs-{r}.jsonl")
                       if name == "with journal" else None)
            pair_us[name].append(ledger_pairs_us(journal))
            if journal is not None:
                journal.close()
    base = statistics.median(m[0] for m in rates["without journal"])
    print(f"\n(a) hot path, concurrency {CONCURRENCY}, {rounds} interleaved rounds of "
          f"{seconds:g} s, median\n")
    print("| variant | req/s (median) | req/s per round | vs without | client CPU µs/request "
          "| ledger µs per reserve+settle |")
    print("|---|---:|---|---:|---:|---:|")
    for name in VARIANTS:
        median = statistics.median(m[0] for m in rates[name])
        cpu = statistics.median(m[2] for m in rates[name])
        per_round = ", ".join(f"{m[0]:,.0f}" for m in rates[name])
        print(f"| {name} | {median:,.0f} | {per_round} | {median / base:.0%} | {cpu:,.0f} "
              f"| {statistics.median(pair_us[name]):.2f} |")


def recovery(tasks: int, directory: Path) -> None:
    path = directory / layout.SPEND_FILE
    attempts = int(tasks * REQUESTS_PER_TASK)
    journal = spend.SpendJournal(path)
    journal.started("bench", 0.0)
    budget = Budget(None, journal=journal)
    for _ in range(attempts):
        budget.settle(budget.reserve(0.0004), 0.00021)
    journal.close()
    size = path.stat().st_size
    lines = attempts * 2 + 1
    os.sync()
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        state = spend.recover(path)
        timings.append(time.perf_counter() - start)
    assert state.figure_usd == budget.spend_usd
    start = time.perf_counter()
    with path.open("rb") as f:
        total = 0.0
        for line in f:
            total = orjson.loads(line)["spent"]
    full = time.perf_counter() - start
    print(f"\n(b) recovery of the spend from a journal of {tasks:,} tasks' worth "
          f"({attempts:,} attempts, {lines:,} lines, {size / 1e6:.1f} MB)\n")
    print("| how | time |")
    print("|---|---:|")
    print(f"| `spend.recover` (last line, read from the end), median of 5 | "
          f"{statistics.median(timings) * 1e3:.3f} ms |")
    print(f"| decoding every line (for comparison) | {full * 1e3:,.0f} ms |")
    assert abs(total - budget.spent_usd) < 1e-6


CAP_USD = 0.05
KILL_AT_S = 5.0


def cap_once(seed: int, directory: Path) -> dict[str, float | str]:
    """One kill -9 and two resumes; the figures of the books, the report and run.finished."""
    out = directory / f"cap-{seed}"
    books = directory / f"books-{seed}.jsonl"
    with simulator_process("--books", str(books), "--fail-hang", "0.05", "--latency-ms", "300",
                           "--latency-spread-ms", "150", "--seed", str(seed)) as url:
        argv = [sys.executable, "-m", "asyncgen", "run", "--out", str(out), "--provider", "sim",
                "--base-url", url, "--budget-usd", str(CAP_USD), "--timeout", "2",
                "--max-concurrency", "6", "--target-instructions", "100000",
                "--log-format", "none", "--seed", str(seed)]
        first = subprocess.Popen(argv)
        time.sleep(KILL_AT_S)
        first.send_signal(signal.SIGKILL)
        first.wait()
        at_kill = fetch_totals(url)["billed_usd"]
        for _ in range(2):
            subprocess.run(argv, check=True, timeout=300)
        billed = float(fetch_totals(url)["billed_usd"])
    report = orjson.loads(subprocess.run(
        [sys.executable, "-m", "asyncgen", "report", str(out), "--json"],
        capture_output=True, check=True).stdout)
    finished = [orjson.loads(line) for line in (out / "events.jsonl").read_bytes().splitlines()
                if b'"run.finished"' in line]
    return {"seed": seed, "at_kill": at_kill, "billed": billed, "report": report["cost_usd"],
            "finished": finished[-1]["cost_usd_all_runs"],
            "reasons": "/".join(str(f["reason"]) for f in finished)}


def cap(seeds: list[int], directory: Path) -> None:
    rows = [cap_once(seed, directory) for seed in seeds]
    print(f"\n(c) cap ${CAP_USD} at the provider: 5% hangs, --timeout 2, kill -9 at "
          f"{KILL_AT_S:g} s, two resumes\n")
    print("| seed | billed at the kill | billed (books) | report | run.finished all runs "
          "| report / billed | resumes stopped by | billed ≤ cap | billed ≤ report ≤ 1.5×+$0.01 |")
    print("|---:|---:|---:|---:|---:|---:|---|---|---|")
    for r in rows:
        billed, shown = float(r["billed"]), float(r["report"])
        bound = billed <= shown <= 1.5 * billed + 0.01 and shown == r["finished"]
        print(f"| {r['seed']} | ${float(r['at_kill']):.4f} | ${billed:.4f} | ${shown:.4f} | "
              f"${float(r['finished']):.4f} | {shown / billed:.2f} | {r['reasons']} | "
              f"{'yes' if billed <= CAP_USD else 'NO'} | {'yes' if bound else 'NO'} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=("hot-path", "recovery", "cap"))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--seeds", default="1,2,3", help="cap scenario seeds, comma-separated")
    args = parser.parse_args()
    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f} at start, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "hot-path"):
            hot_path(args.seconds, args.rounds, Path(tmp))
        if args.only in (None, "recovery"):
            recovery(args.tasks, Path(tmp))
        if args.only in (None, "cap"):
            cap([int(s) for s in args.seeds.split(",")], Path(tmp))
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
