"""Whole-pipeline throughput against a rate-limited simulator (issue: pipeline end to end).

Starts `asyncgen sim --rpm-limit R --latency-ms L`, runs `asyncgen run` against it with
`--rpm R` until N tasks are committed, and reads events.jsonl: the request rate over the run
(and over its steady middle, without the first and last 5%), as a share of the limit, with the
429 share and the run's acceptance funnel.

    python bench/bench_pipeline.py --rpm 6000 --latency-ms 300 --tasks 2000
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

from asyncgen.embedded import simulator_process


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
    args = parser.parse_args()

    sim_flags = ("--seed", str(args.seed), "--rpm-limit", str(args.rpm),
                 "--latency-ms", str(args.latency_ms))
    with simulator_process(*sim_flags) as url, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        command = [
            sys.executable, "-m", "asyncgen", "run", "--out", str(out), "--provider", "sim",
            "--base-url", url, "--rpm", str(args.rpm), "--target-instructions",
            str(args.tasks), "--log-format", "none", "--seed", str(args.seed),
            *args.extra.split(),
        ]
        started = time.monotonic()
        subprocess.run(command, check=True, env={**os.environ, "OPENAI_API_KEY": ""})
        wall = time.monotonic() - started
        lines = (out / "events.jsonl").read_bytes().splitlines()
        events = [orjson.loads(line) for line in lines]

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
    print(f"| {finished['committed']} | {wall:.1f} | {len(requests)} | {whole:.0f} | {steady:.0f} "
          f"| {100 * steady / args.rpm:.1f}% | {100 * limited / max(attempts, 1):.2f}% | "
          f"{finished.get('acceptance_rate')} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
