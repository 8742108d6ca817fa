"""Live vs batch: the bill per committed task, counted by the simulator's own books.

For each kind of provider — OpenAI's Batch API with batch lines not served from the prompt
cache (OpenAI's way) and served from it (`asyncgen sim --batch-cache`, Anthropic's way), and
OpenRouter's Batch API (`asyncgen sim --style openrouter`, `asyncgen run --provider
openrouter`, inline requests and paged results, batch lines cached) — runs `asyncgen run
--target-instructions N` against `asyncgen sim --books` (one simulator per run, same seed):
live, `--batch` (each stage by its measured cost per request) and `--batch --batch-stages all`
(the simulator's Batch API bills each line at 50% of the live price). Then a `--batch` run is
killed with SIGKILL while one of its batches is submitted and not collected, and resumed with
the same command. Prints, from the books, side by side: bill, bill per committed task, its
ratio to live, the share of requests that went through batches, and the request bodies billed
more than once. Each row is printed as soon as its run is done.

    python bench/bench_batch.py --tasks 200
    python bench/bench_batch.py --tasks 60 --kinds openai-uncached,openrouter
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
OPENROUTER_ENV = {**ENV, "OPENROUTER_API_KEY": "sk-or-bench-not-a-secret"}  # the simulator's

# kind -> (label, the simulator's flags, the provider the run names)
KINDS: dict[str, tuple[str, list[str], str]] = {
    "openai-uncached": ("openai, not cached", [], "sim"),
    "openai-cached": ("openai, cached", ["--batch-cache"], "sim"),
    "openrouter": ("openrouter, cached", ["--style", "openrouter", "--batch-cache",
                                          "--batch-page-size", "50"], "openrouter"),
}


def _command(out: Path, url: str, tasks: int, seed: int, batch: list[str],
             provider: str = "sim") -> list[str]:
    base = url.replace("/v1", "/api/v1") if provider == "openrouter" else url
    return [sys.executable, "-m", "asyncgen", "run", "--out", str(out), "--provider", provider,
            "--base-url", base, "--target-instructions", str(tasks), "--seed", str(seed),
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
         batch: list[str], provider: str) -> dict[str, Any]:
    books = tmp / f"{name}-books.jsonl"
    out = tmp / name
    env = OPENROUTER_ENV if provider == "openrouter" else ENV
    with simulator_process("--seed", str(seed), "--books", str(books), *sim) as url:
        started = time.monotonic()
        subprocess.run(_command(out, url, tasks, seed, batch, provider), check=True, env=env)
        wall = time.monotonic() - started
        fetch_totals(url)
    return _summary(books, out, wall)


def _killed(tmp: Path, tasks: int, seed: int, sim: list[str],
            batch: list[str], provider: str) -> dict[str, Any]:
    books = tmp / "killed-books.jsonl"
    out = tmp / "killed"
    journal = out / "batches.jsonl"
    env = OPENROUTER_ENV if provider == "openrouter" else ENV
    with simulator_process("--seed", str(seed), "--books", str(books), *sim) as url:
        started = time.monotonic()
        command = _command(out, url, tasks, seed, batch, provider)
        proc = subprocess.Popen(command, env=env)
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
        subprocess.run(command, check=True, env=env)
        wall = time.monotonic() - started
        fetch_totals(url)
    return {**_summary(books, out, wall), "batches_in_flight_at_kill": in_flight}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-delay-s", type=float, default=1.0)
    parser.add_argument("--batch-max-wait", type=float, default=1.0)
    parser.add_argument("--kinds", default=",".join(KINDS),
                        help=f"kinds of provider, comma-separated, of {', '.join(KINDS)}")
    args = parser.parse_args()
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        parser.error(f"--kinds: unknown {', '.join(unknown) or '(none)'}")
    batch = ["--batch", "--batch-max-wait", str(args.batch_max_wait),
             "--batch-poll-interval", "0.2"]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f};"
          f" tasks {args.tasks}, seed {args.seed}, batch delay {args.batch_delay_s}s")
    print(f"{'provider':<19} {'run':<10} {'tasks':>5} {'requests':>8} {'batch%':>7} "
          f"{'billed $':>10} {'$/task':>11} {'x live':>6} {'twice':>5} {'wall s':>6}",
          flush=True)
    runs: list[tuple[str, list[str], bool]] = [
        ("live", [], False), ("--batch", batch, False),
        ("all-batch", [*batch, "--batch-stages", "all"], False), ("killed", batch, True),
    ]
    for kind in kinds:
        label, flags, provider = KINDS[kind]
        sim = ["--batch-delay-s", str(args.batch_delay_s), *flags]
        live = None
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            for name, extra, kill in runs:
                row = (_killed(tmp, args.tasks, args.seed, sim, extra, provider) if kill
                       else _run(tmp, name.strip("-"), args.tasks, args.seed, sim, extra,
                                 provider))
                per_task = row["usd_per_task"]
                live = per_task if live is None else live
                ratio = f"{per_task / live:>6.3f}" if per_task and live else f"{'-':>6}"
                print(f"{label:<19} {name:<10} {row['committed']:>5} {row['requests_billed']:>8}"
                      f" {100 * row['batch_share']:>6.1f}% {row['billed_usd']:>10.6f} "
                      f"{per_task or 0:>11.8f} {ratio} "
                      f"{row['bodies_billed_twice']:>5} {row['wall_s']:>6}", flush=True)
                if kill:
                    print(f"{label}: the killed run had {row['batches_in_flight_at_kill']} "
                          "batch(es) in flight at the kill", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
