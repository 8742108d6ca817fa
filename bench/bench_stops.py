"""A stop stops (issue 8, point 3), measured from outside as a user would, at the simulator.

A script, not a test (the tests are tests/test_journal.py and tests/test_pipeline.py).

    python bench/bench_stops.py

(a) SIGINT at a run against `asyncgen sim --latency-ms 300` once 10 tasks are committed: the
    simulator's arrivals by prompt kind at the signal, 0.5 s after it and at the exit; the exit
    code, the time to exit and run.finished's reason.
(b) Two SIGINTs 0.3 s apart during a `--max-duration 1.5` drain on a provider where 30% of
    requests hang (`--timeout 600 --drain-timeout 600`): time from the second to the exit,
    and whether every line of tasks.jsonl and events.jsonl is whole.
(c) `setsid asyncgen run` on the embedded simulator (no provider, no key), then
    `kill -INT -- -PGID` as a terminal's Ctrl-C: exit code, time, reason, failed requests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from asyncgen.sim.embedded import simulator_process

KEY_VARIABLES = ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "ASYNCGEN_API_KEY")


def arrivals(url: str) -> dict[str, int]:
    stats = httpx.get(url.removesuffix("/v1") + "/sim/stats").json()
    return dict(stats["arrivals"])


def events(out: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in (out / "events.jsonl").read_bytes().splitlines()]


def whole(out: Path) -> str:
    for name in ("tasks.jsonl", "events.jsonl"):
        data = (out / name).read_bytes()
        if data and not data.endswith(b"\n"):
            return f"{name}: torn last line"
        for line in data.splitlines():
            orjson.loads(line)
    return "every line whole"


def wait_for(predicate: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting")
        time.sleep(0.02)


def run_argv(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "asyncgen", "run", "--out", str(out), "--log-format", "none",
            *extra]


def sigint(tmp: Path) -> None:
    with simulator_process("--latency-ms", "300") as url:
        out = tmp / "a"
        proc = subprocess.Popen(run_argv(out, "--provider", "sim", "--base-url", url,
                                         "--target-instructions", "100000"),
                                stderr=subprocess.PIPE)
        tasks = out / "tasks.jsonl"
        wait_for(lambda: tasks.exists() and tasks.read_bytes().count(b"\n") >= 10)
        at_signal = arrivals(url)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        half = arrivals(url)
        proc.communicate(timeout=60)
        took = time.monotonic() - sent
        end = arrivals(url)
    print("(a) SIGINT, `asyncgen sim --latency-ms 300`, 10 tasks committed; arrivals by kind\n")
    print("| when | generation | classify | input_first | output_first |")
    print("|---|---:|---:|---:|---:|")
    for name, counts in (("at the signal", at_signal), ("+0.5 s", half), ("at the exit", end)):
        print(f"| {name} | {counts.get('instructions', 0)} | {counts.get('classify', 0)} | "
              f"{counts.get('input_first', 0)} | {counts.get('output_first', 0)} |")
    print(f"\nexit {proc.returncode} {took:.2f} s after the signal (drain timeout 30 s), reason "
          f"{events(out)[-1]['reason']}; later than 0.5 s: generation "
          f"{end.get('instructions', 0) - half.get('instructions', 0)}, classify "
          f"{end.get('classify', 0) - half.get('classify', 0)}\n")


def two_signals(tmp: Path) -> None:
    with simulator_process("--latency-ms", "50", "--fail-hang", "0.3") as url:
        out = tmp / "b"
        proc = subprocess.Popen(run_argv(out, "--provider", "sim", "--base-url", url,
                                         "--target-instructions", "100000",
                                         "--max-duration", "1.5", "--drain-timeout", "600",
                                         "--timeout", "600"),
                                stderr=subprocess.PIPE)
        log = out / "events.jsonl"
        wait_for(lambda: log.exists() and b'"run.stopping"' in log.read_bytes())
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        proc.communicate(timeout=60)
        took = time.monotonic() - sent
    print(f"(b) two SIGINTs in a --max-duration drain (30% hangs): exit {proc.returncode} "
          f"{took:.2f} s after the second; reason {events(out)[-1]['reason']}; {whole(out)}\n")


def process_group(tmp: Path) -> None:
    out = tmp / "c"
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARIABLES}
    proc = subprocess.Popen(["setsid", *run_argv(out, "--target-instructions", "100000")],
                            env=env, stderr=subprocess.PIPE)
    tasks = out / "tasks.jsonl"
    wait_for(lambda: tasks.exists() and tasks.read_bytes().count(b"\n") >= 5)
    group = os.getpgid(proc.pid)
    sent = time.monotonic()
    os.killpg(group, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    took = time.monotonic() - sent
    failed = sum(e["event"] == "request.failed" for e in events(out))
    print(f"(c) setsid asyncgen run (embedded simulator), kill -INT -- -PGID: exit "
          f"{proc.returncode} {took:.2f} s after it; reason {events(out)[-1]['reason']}; "
          f"request.failed {failed}; stderr {err.decode().strip()!r}")


def main() -> int:
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    with tempfile.TemporaryDirectory() as tmp:
        sigint(Path(tmp))
        two_signals(Path(tmp))
        process_group(Path(tmp))
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
