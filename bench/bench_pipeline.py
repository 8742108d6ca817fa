"""Whole-pipeline throughput against a rate-limited simulator (issue: pipeline end to end).

Starts `asyncgen sim --rpm-limit R --latency-ms L`, runs `asyncgen run` against it with
`--rpm R` until N tasks are committed, and reads events.jsonl: the request rate over the run
(and over its steady middle, without the first and last 5%), as a share of the limit, with the
429 share and the run's acceptance funnel.

    python bench/bench_pipeline.py --rpm 6000 --latency-ms 300 --tasks 2000

Event-loop stalls (issue 14): `--stalls` runs asyncgen under bench/stallwatch.py (a watchdog
thread that samples the loop thread's stack whenever a heartbeat waits over 20 ms) and prints
every stall over 50 ms with where the loop was, GC pauses, and the largest `loop_lag_ms` of
run.progress. `--preload N` first makes the run directory hold N committed tasks (a 10-task
run, then N lines of bench/corpus.py instructions under its run id), so the run resumes into a
pool of N + seeds: the stalls of a big pool without generating it.

    python bench/bench_pipeline.py --rpm 0 --latency-ms 0 --tasks 100000 --stalls
    python bench/bench_pipeline.py --rpm 0 --latency-ms 0 --preload 1000000 --tasks 20000 --stalls

A run that grows (issue 22): the commit rate by pool size over the run (`task.committed`
timestamps, in tenths of the run, the first and last tenth after warm-up side by side), the
similarity fields the run left (`fields_missing`), and the run directory's bytes per task by
file (the files as the run left them; preloaded tasks count as tasks, their lines as bytes).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson

from asyncgen.sim.embedded import simulator_process

HERE = Path(__file__).resolve().parent


def _timestamp(event: dict[str, object]) -> float:
    return datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00")).timestamp()


def _rate_per_minute(times: list[float]) -> float:
    if len(times) < 2:
        return 0.0
    return (len(times) - 1) / (times[-1] - times[0]) * 60


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rpm", type=int, default=6000)
    parser.add_argument("--latency-ms", type=float, default=300)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--extra", default="", help="more flags for asyncgen run")
    parser.add_argument("--stalls", action="store_true", help="watch the loop for stalls")
    parser.add_argument("--preload", type=int, default=0, help="committed tasks to resume")
    parser.add_argument("--keep", default="", help="run directory to use and keep")
    parser.add_argument("--sim-nice", type=int, default=0,
                        help="niceness of the simulator (a provider on other machines"
                        " takes no CPU from the run: 19 comes closest on one machine)")
    args = parser.parse_args()

    sim_flags = ("--seed", str(args.seed), "--rpm-limit", str(args.rpm),
                 "--latency-ms", str(args.latency_ms))
    with simulator_process(*sim_flags) as url, tempfile.TemporaryDirectory() as tmp:
        if args.sim_nice:  # the simulator is this process's only child so far
            for child in Path(f"/proc/self/task/{os.getpid()}/children").read_text().split():
                os.setpriority(os.PRIO_PROCESS, int(child), args.sim_nice)
        out = Path(args.keep or Path(tmp) / "out")
        base = [
            "run", "--out", str(out), "--provider", "sim", "--base-url", url,
            "--rpm", str(args.rpm), "--log-format", "none", "--seed", str(args.seed),
            "--progress-interval", "5", *args.extra.split(),
        ]
        env = {**os.environ, "OPENAI_API_KEY": ""}
        prior = 0
        if args.preload:
            prior = _preload(out, args.preload, base, env)
        report = Path(tmp) / "stalls.json"
        runner = ([str(HERE / "stallwatch.py"), str(report), "--"] if args.stalls
                  else ["-m", "asyncgen"])
        command = [sys.executable, *runner, *base, "--target-instructions",
                   str(prior + args.tasks)]
        started = time.monotonic()
        subprocess.run(command, check=True, env=env)
        wall = time.monotonic() - started
        lines = (out / "events.jsonl").read_bytes().splitlines()
        events = [orjson.loads(line) for line in lines]
        events = events[max(i for i, e in enumerate(events) if e["event"] == "run.started"):]
        stalls = orjson.loads(report.read_bytes()) if args.stalls else None
        sizes = {path.name: path.stat().st_size for path in sorted(out.iterdir())
                 if path.is_file()}
        stored = (out / "tasks.jsonl").read_bytes().count(b"\n")

    requests = [e for e in events if e["event"] in ("request.completed", "request.failed")]
    retries = [e for e in events if e["event"] == "request.retry"]
    limited = sum(1 for e in retries if e.get("status") == 429)
    times = sorted(_timestamp(e) for e in requests)
    cut = len(times) // 20
    finished = events[-1]
    whole = _rate_per_minute(times)
    steady = _rate_per_minute(times[cut:-cut] if cut else times)
    attempts = len(requests) + len(retries)
    print(f"# asyncgen run vs simulator at {args.rpm} RPM, {args.latency_ms:g} ms latency")
    print(f"date {datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, command: python bench/bench_pipeline.py --rpm {args.rpm}"
          f" --latency-ms {args.latency_ms:g} --tasks {args.tasks}")
    print()
    print("| committed | wall s | requests | RPM (whole run) | RPM (steady 90%) | % of limit | "
          "429 share | acceptance |")
    print("|---|---|---|---|---|---|---|---|")
    share = f"{100 * steady / args.rpm:.1f}%" if args.rpm else "(no limit)"
    print(f"| {finished['committed']} | {wall:.1f} | {len(requests)} | {whole:.0f} | {steady:.0f} "
          f"| {share} | {100 * limited / max(attempts, 1):.2f}% | "
          f"{finished.get('acceptance_rate')} |")
    _print_lag(events, prior, args.preload)
    _print_commit_rate(events, prior)
    _print_sizes(sizes, stored)
    _print_fields(events, sizes, stored)
    if stalls is not None:
        _print_stalls(stalls)
    return 0


def _print_commit_rate(events: list[dict[str, object]], prior: int) -> None:
    """Tasks committed per second in each tenth of this run's commits, by pool size, with the
    requests and the candidates judged per committed task there (events in file order)."""
    times = [_timestamp(e) for e in events if e["event"] == "task.committed"]
    if len(times) < 20:
        return
    tenth = len(times) // 10
    work: list[Counter[str]] = [Counter() for _ in range(10)]
    committed = 0
    for e in events:
        counts = work[min(committed // tenth, 9)]
        if e["event"] == "task.committed":
            committed += 1
        elif e["event"] in ("request.completed", "request.failed"):
            counts["requests"] += 1
        elif e["event"] == "task.admitted":
            counts["admitted"] += 1
        elif e["event"] == "task.rejected" and e.get("reason") in ("similar", "duplicate"):
            counts["similar"] += int(e.get("count", 1))  # type: ignore[call-overload]
    print()
    print(f"commit rate by pool size (this run's task.committed, in tenths; pool = {prior:,} "
          "+ seeds + committed), with requests and ROUGE-L verdicts per committed task:")
    print()
    print("| committed (this run) | pool at the end | tasks/s over the tenth | requests / task "
          "| judged by ROUGE-L / task | of which admitted |")
    print("|---:|---:|---:|---:|---:|---:|")
    rates = []
    for n in range(10):
        part = times[n * tenth:(n + 1) * tenth + 1]
        rate = (len(part) - 1) / max(part[-1] - part[0], 1e-9)
        rates.append(rate)
        end = (n + 1) * tenth
        judged = work[n]["admitted"] + work[n]["similar"]
        print(f"| {n * tenth:,}-{end:,} | {prior + end + 175:,} | {rate:.0f} | "
              f"{work[n]['requests'] / tenth:.2f} | {judged / tenth:.2f} | "
              f"{work[n]['admitted'] / max(judged, 1):.0%} |")
    finished = events[-1]
    print(f"\nlast tenth / second tenth (the first after warm-up): "
          f"{rates[-1] / rates[1]:.2f}; fields_missing at the end: "
          f"{finished.get('fields_missing')}; fields_pending at the end: "
          f"{finished.get('fields_pending')}")


def _print_sizes(sizes: dict[str, int], tasks: int) -> None:
    """The run directory's bytes per task, file by file."""
    print()
    print(f"run directory: {tasks:,} tasks in tasks.jsonl")
    print()
    print("| file | bytes | bytes per task |")
    print("|---|---:|---:|")
    for name, size in sizes.items():
        print(f"| {name} | {size:,} | {size / max(tasks, 1):.0f} |")
    beside = sum(size for name, size in sizes.items()
                 if name not in ("tasks.jsonl", "fields.jsonl"))
    print(f"| (all but tasks.jsonl and fields.jsonl) | {beside:,} | "
          f"{beside / max(tasks, 1):.0f} |")


def _print_fields(events: list[dict[str, object]], sizes: dict[str, int], tasks: int) -> None:
    """The similarity fields: how many tasks still had none at the last commit, how long the
    run then waited for them, their cost per candidate by pool size, fields.jsonl per task."""
    commits = [n for n, e in enumerate(events) if e["event"] == "task.committed"]
    if not commits:
        return
    last = commits[-1]
    progress = [e for e in events[:last] if e["event"] == "run.progress"]
    pending = progress[-1].get("fields_pending") if progress else None
    waited = _timestamp(events[-1]) - _timestamp(events[last])
    print()
    print(f"similarity fields: fields_pending at the last run.progress before the last commit: "
          f"{pending}; from the last commit to run.finished: {waited:.1f} s; fields.jsonl "
          f"{sizes.get('fields.jsonl', 0) / max(tasks, 1):.0f} B per task; the directory "
          "beside tasks.jsonl (fields.jsonl included): "
          f"{sum(v for k, v in sizes.items() if k != 'tasks.jsonl') / max(tasks, 1):.0f} B "
          "per task")
    print()
    print("| committed (this run) | ms per candidate (run.progress neighbours, cumulative) "
          "| queued |")
    print("|---:|---:|---:|")
    rows = [e for e in events if e["event"] == "run.progress" and e.get("neighbours")]
    for e in rows[::max(1, len(rows) // 8)] + rows[-1:]:
        scores = e["neighbours"]
        assert isinstance(scores, dict)
        print(f"| {e['committed']:,} | {scores.get('ms_per_candidate')} | "
              f"{scores.get('queued')} |")


def _preload(out: Path, count: int, base: list[str], env: dict[str, str]) -> int:
    """A 10-task run, then `count` corpus instructions as committed tasks of that run."""
    sys.path.insert(0, str(HERE))
    from corpus import generate  # noqa: PLC0415 (bench-only generator)

    subprocess.run([sys.executable, "-m", "asyncgen", *base, "--target-instructions", "10"],
                   check=True, env=env)
    tasks = out / "tasks.jsonl"
    first = orjson.loads(tasks.read_bytes().splitlines()[0])
    done = len(tasks.read_bytes().splitlines())
    with tasks.open("ab") as f:
        for n, text in enumerate(generate(count, seed=7)):
            f.write(orjson.dumps({**first, "id": f"task-p{n:07d}", "instruction": text,
                                  "most_similar": {}, "most_similar_seed": {}},
                                 option=orjson.OPT_APPEND_NEWLINE))
    return done + count


def _print_lag(events: list[dict[str, object]], prior: int, preload: int) -> None:
    """loop_lag_ms of each run.progress, by committed tasks (pool size)."""
    progress = [e for e in events if e["event"] == "run.progress"]
    if not progress:
        return
    print()
    print(f"loop lag (run.progress, every 5 s; pool = {prior or 'seeds'} + committed):")
    print()
    print("| committed (this run) | pool | loop_lag_ms (max over the 5 s) |")
    print("|---:|---:|---:|")
    step = max(1, len(progress) // 12)
    worst = max(progress, key=lambda e: float(e.get("loop_lag_ms") or 0))  # type: ignore[arg-type]
    for e in [*progress[::step], worst]:
        committed = int(e["committed"])  # type: ignore[call-overload]
        print(f"| {committed:,} | {prior + committed + 175:,} | {e.get('loop_lag_ms')} |")
    over = [e for e in progress if float(e.get("loop_lag_ms") or 0) > 50]  # type: ignore[arg-type]
    print(f"\nrun.progress rows over 50 ms: {len(over)} of {len(progress)}"
          + "".join(f"; {int(e['committed']):,} committed: {e['loop_lag_ms']} ms"  # type: ignore[call-overload]
                    for e in over))
    finished = events[-1]
    print(f"\nworst over the run (run.finished loop_lag_max_ms): "
          f"{finished.get('loop_lag_max_ms')} ms; similarity fields: {finished.get('neighbours')}"
          f"{f'; preloaded {preload:,}' if preload else ''}")


def _print_stalls(report: dict[str, object]) -> None:
    """Every stall over 50 ms the watchdog saw, with the innermost frames of the loop."""
    stalls = report["stalls"]
    assert isinstance(stalls, list)
    print(f"\nstalls over 50 ms (bench/stallwatch.py): {len(stalls)}; "
          f"GC pauses over 10 ms of CPU (generation, ms): {report['gc_pauses_ms']}; "
          f"collections (per generation): {report['gc_stats']}; frozen objects at the end: "
          f"{report['gc_frozen']:,}")
    busy = [stall for stall in stalls if stall["cpu_ms"] > 50]
    print(f"of which the loop thread itself ran over 50 ms of CPU: {len(busy)}; the others "
          "were the loop thread waiting for a core or the GIL (CPU ms far below wall ms)")
    for stall in sorted(stalls, key=lambda s: -s["cpu_ms"])[:12]:
        where = stall["stacks"][0][0].strip().splitlines()[-2:] if stall["stacks"] else ["?"]
        print(f"- {stall['ms']} ms wall, {stall['cpu_ms']} ms CPU: "
              f"{' / '.join(line.strip() for line in where)}")


if __name__ == "__main__":
    raise SystemExit(main())
