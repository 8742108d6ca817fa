"""What kill -9 and resume cost, counted at the provider (issue 8: work paid for is kept).

Two runs to the same target, each against its own fresh simulator: a clean one, and one killed
with SIGKILL `--kills` times (each time its tasks.jsonl has grown by target / (kills + 1) lines)
and resumed with the same command until the target. For each: tasks committed, requests the
provider received by prompt kind (GET /sim/stats `arrivals`), classification requests per
committed task, and cost per committed task: what the simulator's books billed (GET /sim/books
`billed_usd`) when it keeps them, else its request counts priced at the clean run's mean cost
per request of each stage (the runs' own events miss what was in flight at each kill).
`--code DIR` runs `asyncgen run` from another checkout (PYTHONPATH), against this simulator.

    python bench/bench_resume.py --tasks 600 --kills 5 --latency-ms 300
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

from asyncgen.sim.embedded import simulator_process

KEY_VARS = ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "ASYNCGEN_API_KEY")


@dataclass(frozen=True, slots=True)
class Result:
    committed: int
    arrivals: dict[str, int]
    cost_usd: float
    cost_source: str
    wall_s: float

    def per_task(self, kind: str) -> float:
        return self.arrivals.get(kind, 0) / self.committed

    @property
    def cost_per_task(self) -> float:
        return self.cost_usd / self.committed


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


STAGE_OF = {"instructions": "instructions", "classify": "classify",
            "input_first": "instances", "output_first": "instances"}


def _stage_costs(out: Path) -> dict[str, tuple[int, float]]:
    """Requests and cost per stage, from a run directory's `request.*` events."""
    totals: dict[str, tuple[int, float]] = {}
    for line in (out / "events.jsonl").read_bytes().splitlines():
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # a torn line left by a kill
        if event.get("event") in ("request.completed", "request.failed"):
            count, cost = totals.get(event["stage"], (0, 0.0))
            totals[event["stage"]] = (count + 1, cost + float(event.get("cost_usd") or 0.0))
    return totals


def _provider(url: str, out: Path) -> tuple[dict[str, int], float | None]:
    """Arrivals by prompt kind; what the provider billed, if it keeps books."""
    root = url.removesuffix("/v1")
    arrivals = dict(httpx.get(root + "/sim/stats").json()["arrivals"])
    books = httpx.get(root + "/sim/books")
    return arrivals, float(books.json()["billed_usd"]) if books.status_code == 200 else None


def _priced(arrivals: dict[str, int], mean_cost: dict[str, float]) -> float:
    """The provider's requests at the clean run's mean cost per request of their stage."""
    return sum(n * mean_cost.get(STAGE_OF.get(kind, ""), 0.0) for kind, n in arrivals.items())


def _bench(tasks: int, kills: int, sim_flags: list[str], run_flags: list[str], code: str | None,
           mean_cost: dict[str, float] | None = None) -> tuple[Result, dict[str, float]]:
    """One run to `tasks` with `kills` kill -9; and its mean cost per request by stage."""
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARS}
    if code:  # and run from there: `-m` puts the working directory first on sys.path
        env["PYTHONPATH"] = code
    with simulator_process(*sim_flags) as url, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        command = [sys.executable, "-m", "asyncgen", "run", "--out", str(out), "--provider",
                   "sim", "--base-url", url, "--target-instructions", str(tasks),
                   "--log-format", "none", *run_flags]
        started = time.monotonic()
        for kill in range(1, kills + 1):
            proc = subprocess.Popen(command, env=env, cwd=code, stdout=subprocess.DEVNULL)
            at = kill * tasks // (kills + 1)
            while _lines(out / "tasks.jsonl") < at and proc.poll() is None:
                time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        subprocess.run(command, env=env, cwd=code, check=True, stdout=subprocess.DEVNULL)
        wall = time.monotonic() - started
        arrivals, billed = _provider(url, out)
        costs = {stage: cost / n for stage, (n, cost) in _stage_costs(out).items() if n}
        if billed is not None:
            cost, source = billed, "the provider's books"
        else:
            cost = _priced(arrivals, mean_cost or costs)
            source = "provider arrivals x the clean run's mean cost per request of each stage"
        return Result(_lines(out / "tasks.jsonl"), arrivals, cost, source, wall), costs


def _row(name: str, r: Result, target: int) -> str:
    return (f"| {name} | {r.committed} (+{r.committed - target}) "
            f"| {r.arrivals.get('instructions', 0)} | {r.arrivals.get('classify', 0)} | "
            f"{r.arrivals.get('input_first', 0) + r.arrivals.get('output_first', 0)} | "
            f"{r.per_task('classify'):.3f} | {r.cost_per_task * 1000:.4f} | {r.wall_s:.1f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=600)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--extra", default="", help="more flags for asyncgen run")
    parser.add_argument("--code", help="run `asyncgen run` from this checkout instead")
    args = parser.parse_args()
    sim_flags = ["--seed", str(args.seed), "--latency-ms", str(args.latency_ms)]
    run_flags = ["--seed", str(args.seed), *args.extra.split()]
    clean, mean_cost = _bench(args.tasks, 0, sim_flags, run_flags, args.code)
    killed = clean
    if args.kills:
        killed, _ = _bench(args.tasks, args.kills, sim_flags, run_flags, args.code, mean_cost)
    print(f"# bench_resume: {args.tasks} tasks, {args.kills} kill -9, sim latency "
          f"{args.latency_ms:g} ms; {platform.node()} {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f}; code {args.code or 'this checkout'}; cost from "
          f"{killed.cost_source}")
    print("| run | committed (past target) | generation | classify | instances "
          "| classify / task | cost / task (m$) | wall s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print(_row("clean", clean, args.tasks))
    if args.kills:
        print(_row(f"{args.kills} x kill -9", killed, args.tasks))
        ratio = killed.cost_per_task / clean.cost_per_task
        print(f"cost per committed task, killed / clean: {ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
