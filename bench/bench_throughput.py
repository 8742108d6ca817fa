"""Throughput with no hand tuning (issue 12): this tree's client against a baseline's, side by side.

A script, not a test. Each scenario starts a fresh simulator (this tree's: it has the knobs) and
runs a client driver in a subprocess, once with the baseline's code (by default `main`, exported
with `git archive` into a temporary directory) and once with this tree's. Requests are counted
at the provider (`GET /sim/stats`), over a window after a warm-up.

    python bench/bench_throughput.py --baseline 1b1f75c      # everything (~10 minutes);
                                                             # 1b1f75c: main before issue 12
    python bench/bench_throughput.py --only announced --seconds 30
    python bench/bench_throughput.py --baseline none         # this tree only

Scenarios (the provider: 400 ms + 30 tokens/s; instruction-generation requests, ~130 tokens
answered, so ~5 s each):
  announced  3,000 RPM enforced and announced in OpenAI headers; the client gets `rpm=3000`
  silent     1,200 RPM enforced with bare 429s (no headers, no Retry-After); no client limit
  sporadic   as announced, plus 10% sporadic 429s (Retry-After: 1 s)
  dead       `asyncgen run --base-url` at a closed port: exit code, seconds, stderr lines
The client has the defaults otherwise (`max_concurrency` included), and SENDERS loops send as
fast as it lets them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SENDERS = 600
PROVIDER = ("--latency-ms", "400", "--tokens-per-s", "30", "--seed", "3")
SCENARIOS: dict[str, dict[str, Any]] = {
    "announced": {"sim": ("--rpm-limit", "3000"), "rpm": 3000, "limit": 3000},
    "silent": {"sim": ("--rpm-limit", "1200", "--silent-limits"), "rpm": None, "limit": 1200},
    "sporadic": {
        "sim": ("--rpm-limit", "3000", "--sporadic-429", "0.1",
                "--sporadic-429-retry-after-ms", "1000"),
        "rpm": 3000,
        "limit": 3000,
    },
}
REFUSED = ("rate_limited", "429", "429-upstream")


# --- the driver: runs in a subprocess with the tree under test first on sys.path -----------


async def _drive(url: str, rpm: int | None, seconds: float) -> dict[str, Any]:
    import anyio

    from asyncgen.llm import LLMClient, ProviderConfig, ProviderError
    from asyncgen.selfinstruct.prompts import instruction_prompt
    config = ProviderConfig(provider="sim", base_url=url, rpm=rpm)
    failed = 0
    async with LLMClient(config) as client:

        async def loop(n: int) -> None:
            nonlocal failed
            while True:
                n += SENDERS
                prompt = instruction_prompt([f"Write story {n + k} about a cat." for k in range(8)])
                try:
                    await client.complete("instructions", prompt)
                except ProviderError:
                    failed += 1

        async with anyio.create_task_group() as tg:
            for n in range(SENDERS):
                tg.start_soon(loop, n)
            print("started", flush=True)
            await anyio.sleep(seconds)
            stats = client.stats()
            tg.cancel_scope.cancel()
    import asyncgen

    keep = ("concurrency", "max_concurrency", "concurrency_why", "decreases", "attempts",
            "retries", "attempt_errors")
    return {"tree": str(Path(asyncgen.__file__).parents[1]), "failed": failed,
            **{k: stats[k] for k in keep if k in stats}}


def driver(url: str, rpm: int | None, seconds: float) -> int:
    import asyncio
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    print(json.dumps(asyncio.run(_drive(url, rpm, seconds)), default=str), flush=True)
    return 0


# --- the parent ----------------------------------------------------------------------------


def export(ref: str, into: Path) -> Path:
    """`git archive REF asyncgen data` unpacked into `into`; returns the tree."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "asyncgen", "data"],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def sim_stats(url: str) -> dict[str, int]:
    root = url.removesuffix("/v1")
    with urllib.request.urlopen(f"{root}/sim/stats", timeout=10) as response:
        counts: dict[str, int] = json.loads(response.read())["counts"]
    return counts


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_scenario(name: str, tree: Path, warmup: float, seconds: float) -> dict[str, Any]:
    from asyncgen.sim.embedded import simulator_process

    spec = SCENARIOS[name]
    with simulator_process(*PROVIDER, *spec["sim"]) as url:
        env = {**os.environ, "PYTHONPATH": str(tree)}
        command = [sys.executable, str(Path(__file__).resolve()), "--driver", url,
                   "--driver-seconds", str(warmup + seconds + 1)]
        if spec["rpm"] is not None:
            command += ["--driver-rpm", str(spec["rpm"])]
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True,
                                   cwd=tempfile.gettempdir())
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "started"
        time.sleep(warmup)
        before, started, load_before = sim_stats(url), time.monotonic(), load()
        time.sleep(seconds)
        after, elapsed = sim_stats(url), time.monotonic() - started
        client = json.loads(process.stdout.readline())
        process.wait(timeout=60)
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    attempts = sum(delta.values())
    refused = sum(delta.get(k, 0) for k in REFUSED)
    limit_refused = delta.get("rate_limited", 0)
    served = delta.get("ok", 0) / elapsed * 60
    return {
        "served_rpm": served,
        "share": served / spec["limit"],
        "attempts": attempts,
        "refused_share": refused / attempts if attempts else 0.0,
        "limit_429_share": limit_refused / attempts if attempts else 0.0,
        "sporadic": delta.get("429-upstream", 0),
        "load": f"{load_before} → {load()}",
        "client": client,
    }


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_dead(tree: Path) -> dict[str, Any]:
    """`asyncgen run` against a closed port, default console: exit code, seconds, stderr."""
    out = Path(tempfile.mkdtemp(prefix="bench-dead-"))
    command = [sys.executable, "-m", "asyncgen", "run", "--out", str(out / "run"),
               "--provider", "openai-compatible", "--base-url",
               f"http://127.0.0.1:{closed_port()}/v1", "--model", "sim-1",
               "--target-instructions", "50", "--progress-interval", "1000"]
    started = time.monotonic()
    try:
        done = subprocess.run(command, env={**os.environ, "PYTHONPATH": str(tree)},
                              capture_output=True, text=True, timeout=180, cwd=out)
        code: int | str = done.returncode
        stderr = done.stderr
    except subprocess.TimeoutExpired as exc:
        code, stderr = "timeout", (exc.stderr or b"").decode() if isinstance(
            exc.stderr, bytes) else (exc.stderr or "")
    elapsed = time.monotonic() - started
    events = out / "run" / "events.jsonl"
    attempts = 0
    if events.exists():
        for line in events.read_text().splitlines():
            event = json.loads(line)
            if event.get("event") in ("request.retry", "request.failed", "request.completed"):
                attempts += 1
    shutil.rmtree(out, ignore_errors=True)
    lines = [line for line in stderr.splitlines() if line.strip()]
    stopped = [line for line in lines if "stopped" in line]
    return {"exit": code, "seconds": elapsed, "stderr_lines": len(lines),
            "stop_line": stopped[-1] if stopped else (lines[-1] if lines else ""),
            "attempt_events": attempts}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=(*SCENARIOS, "dead"), action="append")
    parser.add_argument("--baseline", default="main",
                        help="git ref to compare against ('none': this tree only)")
    parser.add_argument("--warmup", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--driver", help=argparse.SUPPRESS)
    parser.add_argument("--driver-rpm", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--driver-seconds", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.driver:
        return driver(args.driver, args.driver_rpm, args.driver_seconds)

    only = args.only or [*SCENARIOS, "dead"]
    print(f"date {time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, {os.cpu_count()} "
          f"cores (shared with other developers' jobs), Python {platform.python_version()}, "
          f"load average {load()}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}\n")
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp:
        trees = {"this tree": ROOT}
        if args.baseline != "none":
            trees = {f"baseline ({args.baseline})": export(args.baseline, Path(tmp)), **trees}
        rows = []
        for name in only:
            for label, tree in trees.items():
                if name == "dead":
                    result = run_dead(tree)
                else:
                    result = run_scenario(name, tree, args.warmup, args.seconds)
                print(f"  {name} / {label}: {result}", file=sys.stderr, flush=True)
                rows.append((name, label, result))
    print(f"### Served at the provider ({args.warmup:g} s warm-up, {args.seconds:g} s counted, "
          f"{SENDERS} senders)\n")
    print("| scenario | client | served RPM | % of limit | attempts | 429 share (all) "
          "| limit 429s | concurrency at end | why | load (1/5/15 min) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|---|")
    for name, label, r in rows:
        if name == "dead":
            continue
        client = r["client"]
        print(f"| {name} | {label} | {r['served_rpm']:,.0f} | {r['share']:.1%} | "
              f"{r['attempts']:,} | {r['refused_share']:.2%} | {r['limit_429_share']:.2%} | "
              f"{client.get('concurrency')} / {client.get('max_concurrency')} | "
              f"{client.get('concurrency_why', '(AIMD)')} | {r['load']} |")
    served = {(n, lbl): r["served_rpm"] for n, lbl, r in rows if n != "dead"}
    for label in trees:
        if ("sporadic", label) in served and ("announced", label) in served:
            ratio = served["sporadic", label] / served["announced", label]
            print(f"\nsporadic / announced, {label}: {ratio:.0%}")
    dead = [(label, r) for n, label, r in rows if n == "dead"]
    if dead:
        print("\n### Dead `--base-url` (closed port)\n")
        print("| client | exit | seconds | stderr lines | request events | last line |")
        print("|---|---:|---:|---:|---:|---|")
        for label, r in dead:
            line = r["stop_line"].replace("|", "\\|")[:160]
            print(f"| {label} | {r['exit']} | {r['seconds']:.1f} | {r['stderr_lines']} | "
                  f"{r['attempt_events']} | `{line}` |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
