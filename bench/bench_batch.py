"""Live vs batch: the bill per committed task, counted by the simulator's own books.

For both kinds of provider — batch lines not served from the prompt cache (OpenAI's way) and
served from it (`asyncgen sim --batch-cache`, Anthropic's way) — runs `asyncgen run
--target-instructions N` against `asyncgen sim --books` (one simulator per run, same seed):
live, `--batch` (each stage by its measured cost per request) and `--batch --batch-stages all`
(the simulator's Batch API bills each line at 50% of the live price). Then a `--batch` run is
killed with SIGKILL while one of its batches is submitted and not collected, and resumed with
the same command. Prints, from the books, side by side: bill, bill per committed task, its
ratio to live, the share of requests that went through batches, and the request bodies billed
more than once.

    python bench/bench_batch.py --tasks 200
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
from pathlib import Path
from typing import Any

import orjson

from asyncgen.sim.books import fetch_totals, read_books
from asyncgen.sim.embedded import simulator_process

ENV = {k: v for k, v in os.environ.items()
       if k not in ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "ASYNCGEN_API_KEY")}


def _command(out: Path, url: str, tasks: int, seed: int, batch: list[str]) -> list[str]:
    return [sys.executable, "-m", "asyncgen", "run", "--out", str(out), "--provider", "sim",
            "--base-url", url, "--target-instructions", str(tasks), "--seed", str(seed),
            "--log-format", "none", *batch]


def _summary(books: Path, out: Path, wall_s: float) -> dict[str, Any]:
    lines = list(read_books(books))
    committed = (out / "tasks.jsonl").read_bytes().count(b"\n")
    billed = sum(float(line["cost_usd"]) for line in lines)
    batched = [line for line in lines if str(line["endpoint"]).startswith("batch:")]
    digests = [line["body_digest"] for line in batched]
    return {
        "committed": committed,
        "requests_billed": len(lines),
        "batch_share": round(len(batched) / len(lines), 4) if lines else 0.0,
        "billed_usd": round(billed, 6),
        "usd_per_task": round(billed / committed, 8) if committed else None,
        "bodies_billed_twice": len(digests) - len(set(digests)),
        "wall_s": round(wall_s, 1),
    }


def _run(tmp: Path, name: str, tasks: int, seed: int, sim: list[str],
         batch: list[str]) -> dict[str, Any]:
    books = tmp / f"{name}-books.jsonl"
    out = tmp / name
    with simulator_process("--seed", str(seed), "--books", str(books), *sim) as url:
        started = time.monotonic()
        subprocess.run(_command(out, url, tasks, seed, batch), check=True, env=ENV)
        wall = time.monotonic() - started
        fetch_totals(url)
    return _summary(books, out, wall)


def _killed(tmp: Path, tasks: int, seed: int, sim: list[str],
            batch: list[str]) -> dict[str, Any]:
    books = tmp / "killed-books.jsonl"
    out = tmp / "killed"
    journal = out / "batches.jsonl"
    with simulator_process("--seed", str(seed), "--books", str(books), *sim) as url:
        started = time.monotonic()
        command = _command(out, url, tasks, seed, batch)
        proc = subprocess.Popen(command, env=ENV)
        kinds: list[str] = []
        while proc.poll() is None:
            if journal.exists():
                kinds = [orjson.loads(x)["r"] for x in journal.read_bytes().splitlines()
                         if x.endswith(b"}")]
                if "collected" in kinds and kinds.count("submitted") > kinds.count("collected"):
                    break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        in_flight = kinds.count("submitted") - kinds.count("collected")
        subprocess.run(command, check=True, env=ENV)
        wall = time.monotonic() - started
        fetch_totals(url)
    return {**_summary(books, out, wall), "batches_in_flight_at_kill": in_flight}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-delay-s", type=float, default=1.0)
    parser.add_argument("--batch-max-wait", type=float, default=1.0)
    args = parser.parse_args()
    batch = ["--batch", "--batch-max-wait", str(args.batch_max_wait),
             "--batch-poll-interval", "0.2"]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f};"
          f" tasks {args.tasks}, seed {args.seed}, batch delay {args.batch_delay_s}s")
    print(f"{'provider':<16} {'run':<10} {'tasks':>5} {'requests':>8} {'batch%':>7} "
          f"{'billed $':>10} {'$/task':>11} {'x live':>6} {'twice':>5} {'wall s':>6}")
    for kind, cache in (("batch not cached", []), ("batch cached", ["--batch-cache"])):
        sim = ["--batch-delay-s", str(args.batch_delay_s), *cache]
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            rows = {
                "live": _run(tmp, "live", args.tasks, args.seed, sim, []),
                "--batch": _run(tmp, "batch", args.tasks, args.seed, sim, batch),
                "all-batch": _run(tmp, "all", args.tasks, args.seed, sim,
                                  [*batch, "--batch-stages", "all"]),
                "killed": _killed(tmp, args.tasks, args.seed, sim, batch),
            }
        live = rows["live"]["usd_per_task"]
        for name, row in rows.items():
            print(f"{kind:<16} {name:<10} {row['committed']:>5} {row['requests_billed']:>8} "
                  f"{100 * row['batch_share']:>6.1f}% {row['billed_usd']:>10.6f} "
                  f"{row['usd_per_task']:>11.8f} {row['usd_per_task'] / live:>6.3f} "
                  f"{row['bodies_billed_twice']:>5} {row['wall_s']:>6}")
        print(f"{kind}: the killed run had {rows['killed']['batches_in_flight_at_kill']} "
              "batch(es) in flight at the kill")
    return 0


if __name__ == "__main__":
    sys.exit(main())
