"""Share of a provider's limit `asyncgen run` serves with its defaults (issue 19), beside the
old defaults (16/32/48 workers, --max-concurrency 512), counted at the provider.

A script, not a test. Each scenario starts the simulator as a separate process (a limit it
enforces, announced in x-ratelimit headers unless silent; 400 ms + N output tokens per second)
and `asyncgen run` as another, with its defaults and only `--rpm` where the limit is announced,
for a bounded time. Requests are counted at the simulator (`GET /sim/stats`: received,
429s; served = received - refused, i.e. admitted and billed) over a window after a warm-up;
the run's own `loop_lag_max_ms` (its worst event-loop stall) and its last limiter state come
from its events, its CPU share and peak RSS (VmHWM of the run and its courier process) from
/proc.

    python bench/bench_capacity.py                          # every scenario, both columns
    python bench/bench_capacity.py --only 30k --seconds 30 --columns defaults
    python bench/bench_capacity.py --only 30k --columns defaults --stalls   # under stallwatch

`--stalls` runs asyncgen under bench/stallwatch.py and adds the worst stall's loop-thread CPU
time (`cpu_ms`): near its length the loop was busy in our code; far below it, the loop thread
was runnable but had no core (a loaded machine).

Scenarios:
  3k      3,000 RPM announced, 400 ms + 30 tokens/s, `--rpm 3000`
  12k     12,000 RPM announced, 400 ms + 80 tokens/s, `--rpm 12000`
  30k     30,000 RPM announced, 400 ms + 80 tokens/s, `--rpm 30000`
  silent  1,200 RPM enforced with bare 429s (no headers), 400 ms + 30 tokens/s, no flag
  pool    three simulators (1,200 RPM / 300 ms, 3,000 RPM / 400 ms, 6,000 RPM / 500 ms, limits
          announced in headers) given only as `[[endpoints]]` in a TOML config: share of the sum
  pool-kill  the same three in a 6,000-task run; the 3,000 RPM one killed (SIGKILL) 30 s in:
          share of the sum served before the kill (after the warm-up) and of the other two's
          sum after it (5 s to 35 s after the kill), whether the run reached
          its target, its exit code, tasks valid and unique, the killed endpoint's books in
          run.finished (defaults column only)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

SCENARIOS: dict[str, dict[str, Any]] = {
    "3k": {"rpm": 3000, "tokens_per_s": 30, "announced": True},
    "12k": {"rpm": 12000, "tokens_per_s": 80, "announced": True},
    "30k": {"rpm": 30000, "tokens_per_s": 80, "announced": True},
    "silent": {"rpm": 1200, "tokens_per_s": 30, "announced": False},
    # three servers in one run, given only as [[endpoints]] (limits learnt from headers)
    "pool": {"rpm": 1200 + 3000 + 6000, "tokens_per_s": 0, "announced": True,
             "pool": ((1200, 300), (3000, 400), (6000, 500))},
}
SCENARIOS["pool-kill"] = {**SCENARIOS["pool"], "kill": 1, "kill_at_s": 30.0, "tasks": 6000}
KILL_RUN_BOUND_S = 600.0  # the killed-pool run's --max-duration (it ends at its target first)
AFTER_KILL_S = (5.0, 30.0)  # after the kill: wait, then count what the other two serve
COLUMNS: dict[str, tuple[str, ...]] = {
    "defaults": (),
    "old defaults": ("--instruction-workers", "16", "--classify-workers", "32",
                     "--instance-workers", "48", "--max-concurrency", "512"),
}
REFUSED = ("rate_limited", "429", "429-upstream")
FLOORS = {True: (0.95, 0.01), False: (0.85, 0.05)}  # announced / silent: served, refused
POOL_FLOOR = 0.90


def sim_stats(url: str) -> dict[str, int]:
    """The simulator's counts by outcome, and `arrivals`: completion requests received."""
    root = url.removesuffix("/v1")
    with urllib.request.urlopen(f"{root}/sim/stats", timeout=10) as response:
        stats = json.loads(response.read())
    counts: dict[str, int] = stats["counts"]
    return {**counts, "arrivals": sum(stats["arrivals"].values())}


def stats_of(urls: list[str]) -> dict[str, int]:
    """`sim_stats` summed over simulators."""
    total: dict[str, int] = {}
    for url in urls:
        for key, value in sim_stats(url).items():
            total[key] = total.get(key, 0) + value
    return total


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a process and its children (the courier), in MB (0 once gone)."""
    total = 0.0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        return 0.0
    for one in pids:
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 once gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def from_events(events: Path) -> tuple[float | None, dict[str, Any]]:
    """The run's worst event-loop stall (ms), and from its run.progress events the window at
    its busiest (most in flight) and each interval's worst stall."""
    worst: float | None = None
    busiest: dict[str, Any] = {"in_flight": -1}
    lags: list[float] = []
    if not events.exists():
        return None, busiest
    for line in events.read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        lag = event.get("loop_lag_max_ms")
        if isinstance(lag, (int, float)):
            worst = lag if worst is None else max(worst, lag)
        if event.get("event") == "run.progress":
            lags.append(event.get("loop_lag_ms"))
            limiter = event.get("limiter", {})
            if (limiter.get("in_flight") or 0) > busiest["in_flight"]:
                busiest = {k: limiter.get(k) for k in (
                    "concurrency", "concurrency_why", "in_flight", "waiting_by_priority")}
                busiest["open_jobs"] = event.get("open_jobs")
    return worst, {**busiest, "loop_lag_ms_per_interval": lags}


def worst_stalls(report: Path) -> dict[str, Any]:
    """From a stallwatch report: the longest stall and the busiest one (most loop CPU)."""
    if not report.exists():
        return {}
    stalls = json.loads(report.read_text())["stalls"]
    if not stalls:
        return {"stalls_over_50ms": 0}
    longest = max(stalls, key=lambda s: s["ms"])
    busiest = max(stalls, key=lambda s: s["cpu_ms"])
    return {"stalls_over_50ms": len(stalls), "longest_ms": longest["ms"],
            "longest_cpu_ms": longest["cpu_ms"], "busiest_ms": busiest["ms"],
            "busiest_cpu_ms": busiest["cpu_ms"]}


def run_scenario(name: str, column: str, warmup: float, seconds: float,
                 stalls: bool = False) -> dict[str, Any]:
    from asyncgen.sim.embedded import simulator_process

    spec = SCENARIOS[name]
    sims = [["--latency-ms", str(latency), "--rpm-limit", str(rpm), "--seed", str(n)]
            for n, (rpm, latency) in enumerate(spec.get("pool", ((spec["rpm"], 400),)), 3)]
    if spec["tokens_per_s"]:
        sims[0] += ["--tokens-per-s", str(spec["tokens_per_s"])]
    if not spec["announced"]:
        sims[0].append("--silent-limits")
    out = Path(tempfile.mkdtemp(prefix="bench-capacity-"))
    with ExitStack() as stack:
        urls = [stack.enter_context(simulator_process(*sim)) for sim in sims]
        runner = ([str(Path(__file__).parent / "stallwatch.py"), str(out / "stalls.json"), "--"]
                  if stalls else ["-m", "asyncgen"])
        command = [sys.executable, *runner, "run", "--out", str(out / "run"),
                   "--target-instructions", "1000000000", "--log-format", "none",
                   "--max-duration", str(warmup + seconds + 2), "--drain-timeout", "5",
                   "--progress-interval", "2", *COLUMNS[column]]
        if "pool" in spec:
            config = out / "pool.toml"
            config.write_text('model = "sim-1"\n' + "".join(
                f'[[endpoints]]\nname = "s{n}"\nbase_url = "{url}"\n'
                for n, url in enumerate(urls, 1)))
            command += ["--config", str(config)]
        else:
            command += ["--provider", "openai-compatible", "--base-url", urls[0],
                        "--model", "sim-1"]
        if spec["announced"] and "pool" not in spec:
            command += ["--rpm", str(spec["rpm"])]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   cwd=out, start_new_session=True)
        try:
            time.sleep(warmup)
            before, started, load_before = stats_of(urls), time.monotonic(), load()
            cpu_before = cpu_s(process.pid)
            rss = peak_rss_mb(process.pid)
            while time.monotonic() - started < seconds:
                time.sleep(1.0)
                rss = max(rss, peak_rss_mb(process.pid))
            after, elapsed = stats_of(urls), time.monotonic() - started
            cpu = (cpu_s(process.pid) - cpu_before) / elapsed
            load_after = load()
            try:
                process.wait(timeout=warmup + 60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    lag, window = from_events(out / "run" / "events.jsonl")
    watched = worst_stalls(out / "stalls.json")
    shutil.rmtree(out, ignore_errors=True)
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    attempts = delta["arrivals"]
    refused = sum(delta.get(k, 0) for k in REFUSED)
    # served: admitted past the limits (and billed) in the window; answered lags it by latency
    served = (attempts - refused) / elapsed * 60
    return {
        "served_rpm": served,
        "answered_rpm": delta.get("ok", 0) / elapsed * 60,
        "share": served / spec["rpm"],
        "attempts": attempts,
        "refused_share": refused / attempts if attempts else 0.0,
        "loop_lag_max_ms": lag,
        "peak_rss_mb": rss,
        "run_cpu_share": round(cpu, 2),
        "window_at_end": window,
        "exit": process.returncode,
        "stderr_tail": stderr.strip().splitlines()[-1:] if stderr.strip() else [],
        "load": f"{load_before} → {load_after}",
        **({"stallwatch": watched} if stalls else {}),
    }


def _own_simulator(*args: str) -> tuple[subprocess.Popen[str], str]:
    """A simulator process this script can kill (its pid), and its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "asyncgen.sim", "--host", "127.0.0.1", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if "listening on " not in line:
        raise RuntimeError(f"the simulator did not start: {line!r}")
    return process, line.split("listening on ", 1)[1].strip()


def run_pool_kill(warmup: float) -> dict[str, Any]:
    """The pool of three in a 6,000-task run, one endpoint killed `kill_at_s` in (module doc)."""
    spec = SCENARIOS["pool-kill"]
    out = Path(tempfile.mkdtemp(prefix="bench-capacity-kill-"))
    sims = [_own_simulator("--latency-ms", str(latency), "--rpm-limit", str(rpm), "--seed",
                           str(n)) for n, (rpm, latency) in enumerate(spec["pool"], 3)]
    urls = [url for _, url in sims]
    killed = spec["kill"]
    try:
        config = out / "pool.toml"
        config.write_text('model = "sim-1"\n' + "".join(
            f'[[endpoints]]\nname = "s{n}"\nbase_url = "{url}"\n'
            for n, url in enumerate(urls, 1)))
        command = [sys.executable, "-m", "asyncgen", "run", "--out", str(out / "run"),
                   "--config", str(config), "--target-instructions", str(spec["tasks"]),
                   "--log-format", "none", "--progress-interval", "2",
                   "--max-duration", str(KILL_RUN_BOUND_S)]
        started = time.monotonic()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   cwd=out, start_new_session=True)
        try:
            time.sleep(warmup)
            before, counted_from, load_before = stats_of(urls), time.monotonic(), load()
            time.sleep(max(0.0, spec["kill_at_s"] - (time.monotonic() - started)))
            at_kill, counted = stats_of(urls), time.monotonic() - counted_from
            sims[killed][0].kill()  # a real kill of the 3,000 RPM server, mid-run
            sims[killed][0].wait()
            killed_at = time.monotonic() - started
            others = [url for n, url in enumerate(urls) if n != killed]
            time.sleep(AFTER_KILL_S[0])  # then what the others serve, over AFTER_KILL_S[1]
            after_from, after_at = stats_of(others), time.monotonic()
            time.sleep(AFTER_KILL_S[1])
            after_to, after_s = stats_of(others), time.monotonic() - after_at
            try:
                process.wait(timeout=KILL_RUN_BOUND_S + 60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            took = time.monotonic() - started
            load_after = load()
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    finally:
        for sim, _ in sims:
            sim.kill()
            sim.wait()
            if sim.stdout is not None:
                sim.stdout.close()
    delta = {k: at_kill.get(k, 0) - before.get(k, 0) for k in at_kill}
    served = (delta["arrivals"] - sum(delta.get(k, 0) for k in REFUSED)) / counted * 60
    after = {k: after_to.get(k, 0) - after_from.get(k, 0) for k in after_to}
    served_after = (after["arrivals"] - sum(after.get(k, 0) for k in REFUSED)) / after_s * 60
    others_rpm = sum(rpm for n, (rpm, _) in enumerate(spec["pool"]) if n != killed)
    tasks = [json.loads(line) for line in
             (out / "run" / "tasks.jsonl").read_text().splitlines()] if (
        out / "run" / "tasks.jsonl").exists() else []
    finished: dict[str, Any] = {}
    for line in (out / "run" / "events.jsonl").read_text().splitlines()[-5:]:
        event = json.loads(line)
        if event.get("event") == "run.finished":
            finished = event
    shutil.rmtree(out, ignore_errors=True)
    pool = finished.get("limiter", {}).get("endpoints", {})
    return {
        "served_rpm_before_kill": served, "share_before_kill": served / spec["rpm"],
        "served_rpm_after_kill": served_after, "share_after_kill": served_after / others_rpm,
        "killed_at_s": round(killed_at, 1), "run_s": round(took, 1),
        "reason": finished.get("reason"), "exit": process.returncode,
        "tasks": len(tasks), "target": spec["tasks"],
        "unique": len({task["instruction"] for task in tasks}) == len(tasks),
        "valid": all(task.get("instruction") and task.get("instances") for task in tasks),
        "killed_endpoint": {k: pool.get(f"s{killed + 1}", {}).get(k) for k in (
            "requests", "faults", "failures", "rerouted", "taken_out", "in_service")},
        "loop_lag_max_ms": finished.get("loop_lag_max_ms"),
        "stderr_tail": stderr.strip().splitlines()[-1:] if stderr.strip() else [],
        "load": f"{load_before} → {load_after}",
    }


def print_pool_kill(r: dict[str, Any]) -> None:
    spec = SCENARIOS["pool-kill"]
    ok = (r["share_before_kill"] >= POOL_FLOOR and r["reason"] == "target" and r["exit"] == 0
          and r["tasks"] >= spec["tasks"] and r["unique"] and r["valid"])
    print(f"\n### Pool of three, the {spec['pool'][spec['kill']][0]:,} RPM server killed "
          f"{spec['kill_at_s']:g} s into a {spec['tasks']:,}-task run\n")
    print("| served before the kill | % of the sum | after it, % of the other two | killed at "
          "| run ends | reason | exit "
          "| tasks | unique | valid | killed endpoint (requests/faults/failures/rerouted/"
          "taken out) | loop_lag_max_ms | floors | load (1/5/15 min) |")
    print("|---:|---:|---:|---:|---:|---|---:|---:|---|---|---|---:|---|---|")
    k = r["killed_endpoint"]
    print(f"| {r['served_rpm_before_kill']:,.0f} RPM | {r['share_before_kill']:.1%} | "
          f"{r['share_after_kill']:.1%} | {r['killed_at_s']:g} s | {r['run_s']:g} s | "
          f"{r['reason']} | {r['exit']} | "
          f"{r['tasks']:,} | {r['unique']} | {r['valid']} | {k['requests']}/{k['faults']}/"
          f"{k['failures']}/{k['rerouted']}/{k['taken_out']} | {r['loop_lag_max_ms']} | "
          f"{'met' if ok else 'not met'} | {r['load']} |")


def verdict(name: str, r: dict[str, Any]) -> str:
    served, refused = FLOORS[SCENARIOS[name]["announced"]]
    if name == "pool":
        served, refused = POOL_FLOOR, 1.0
    ok = r["share"] >= served and r["refused_share"] <= refused
    if name == "30k":
        ok = ok and r["loop_lag_max_ms"] is not None and r["loop_lag_max_ms"] <= 50
    return "met" if ok else "not met"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=SCENARIOS, action="append")
    parser.add_argument("--columns", choices=COLUMNS, action="append")
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--stalls", action="store_true",
                        help="run asyncgen under bench/stallwatch.py (each stall's loop CPU)")
    args = parser.parse_args()
    only = args.only or list(SCENARIOS)
    columns = args.columns or list(COLUMNS)
    print(f"date {time.strftime('%Y-%m-%d %H:%M %Z')}, {platform.machine()}, {os.cpu_count()} "
          f"cores (shared with other developers' jobs), Python {platform.python_version()}, "
          f"load average {load()}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}\n")
    rows = []
    killed: dict[str, Any] | None = None
    for name in only:
        if "kill" in SCENARIOS[name]:
            killed = run_pool_kill(args.warmup)
            print(f"  {name}: {killed}", file=sys.stderr, flush=True)
            continue
        for column in columns:
            result = run_scenario(name, column, args.warmup, args.seconds, args.stalls)
            print(f"  {name} / {column}: {result}", file=sys.stderr, flush=True)
            rows.append((name, column, result))
    if rows:
        print(f"### Served at the simulator ({args.warmup:g} s warm-up, "
              f"{args.seconds:g} s counted)\n")
        print("| scenario | run | served RPM | % of limit | answered RPM | attempts | 429 share "
              "| loop_lag_max_ms | peak RSS MB | floors | load (1/5/15 min) |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
        for name, column, r in rows:
            spec = SCENARIOS[name]
            label = (f"{spec['rpm']:,} RPM {'announced' if spec['announced'] else 'silent'}, "
                     f"{spec['tokens_per_s']} tok/s")
            if "pool" in spec:
                label = "pool of 3: " + " + ".join(f"{rpm:,} RPM / {ms} ms"
                                                   for rpm, ms in spec["pool"])
            lag = "?" if r["loop_lag_max_ms"] is None else f"{r['loop_lag_max_ms']:.1f}"
            print(f"| {label} | {column} | {r['served_rpm']:,.0f} | {r['share']:.1%} | "
                  f"{r['answered_rpm']:,.0f} | {r['attempts']:,} | {r['refused_share']:.2%} | "
                  f"{lag} | {r['peak_rss_mb']:.0f} | "
                  f"{verdict(name, r) if column == 'defaults' else '-'} | {r['load']} |")
    if killed is not None:
        print_pool_kill(killed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
