"""Cost per committed task with the provider's prompt cache off and on (issue: cost, caching).

The same workload twice against the simulator, which caches prompts the OpenAI way (>= 1,024
tokens, 128-token steps, a TTL) and bills cached prompt tokens at the cached price: once with
`--no-prompt-cache`, once with caching on. Money is counted at the provider (the simulator's
books): the bill per committed task side by side, the share of prompt tokens served from the
cache, per stage, and the client's recorded cost (`asyncgen report --json`) against the bill.
By default the simulator answers as OpenAI does, without `usage.cost`, so that the client
prices the tokens itself (`--usage-cost`: OpenRouter's way, the bill in every response).

    python bench/bench_cache.py --tasks 600 --latency-ms 200 --concurrency 32
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
from typing import Any

import orjson

from asyncgen.selfinstruct.prompts import split_fixed
from asyncgen.sim.books import fetch_totals
from asyncgen.sim.embedded import simulator_process
from asyncgen.sim.generator import count_tokens

BASELINE_PER_TASK = 0.000694  # the issue's figure: this workload, 2026-12-01, old prompts


def _run(args: argparse.Namespace, cache: bool, tmp: Path) -> dict[str, Any]:
    """One variant: simulator, run, report; the figures of both sides."""
    prices = ("--price-in", str(args.price_in), "--price-out", str(args.price_out),
              "--price-cached", str(args.price_cached))
    sim_flags = ["--seed", str(args.seed), "--latency-ms", str(args.latency_ms), *prices]
    if not cache:
        sim_flags.append("--no-prompt-cache")
    if not args.usage_cost:
        sim_flags.append("--no-usage-cost")
    out = tmp / ("on" if cache else "off")
    with simulator_process(*sim_flags) as url:
        command = [
            sys.executable, "-m", "asyncgen", "run", "--out", str(out), "--provider", "sim",
            "--base-url", url, "--target-instructions", str(args.tasks), "--max-concurrency",
            str(args.concurrency), "--log-format", "none", "--seed", str(args.seed), *prices,
        ]
        started = time.monotonic()
        subprocess.run(command, check=True, env={**os.environ, "OPENAI_API_KEY": "",
                                                 "OPENROUTER_API_KEY": ""})
        wall = time.monotonic() - started
        books = fetch_totals(url)
    report = orjson.loads(subprocess.run(
        [sys.executable, "-m", "asyncgen", "report", str(out), "--json"],
        check=True, capture_output=True).stdout)
    stages: dict[str, Counter[str]] = {}
    for line in (out / "events.jsonl").read_bytes().splitlines():
        event = orjson.loads(line)
        if event.get("event") == "request.completed":
            row = stages.setdefault(str(event["stage"]), Counter())
            row["requests"] += 1
            row["prompt_tokens"] += event["prompt_tokens"]
            row["cached_tokens"] += event.get("cached_tokens") or 0
    return {"cache": cache, "wall_s": wall, "books": books, "report": report, "stages": stages,
            "committed": report["table1"]["instructions"]}


def _prefix_tokens() -> dict[str, int]:
    """Tokens (the simulator's count) of each few-shot stage's fixed prefix, as sent."""
    from asyncgen.selfinstruct.demos import load_demos
    from asyncgen.selfinstruct.prompts import (
        classify_prompt,
        input_first_prompt,
        output_first_prompt,
    )

    demos = load_demos()
    prompts = {
        "classify": classify_prompt(demos.classify, "x"),
        "instances (input-first)": input_first_prompt(demos.input_first, "x"),
        "instances (output-first)": output_first_prompt(demos.output_first, "x"),
    }
    return {stage: count_tokens(split_fixed(prompt)[0]) for stage, prompt in prompts.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=600)
    parser.add_argument("--latency-ms", type=float, default=200)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--price-in", type=float, default=0.50)
    parser.add_argument("--price-cached", type=float, default=0.05)
    parser.add_argument("--price-out", type=float, default=1.50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--usage-cost", action="store_true",
                        help="the simulator sends usage.cost (OpenRouter's way)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        results = [_run(args, cache, Path(tmp)) for cache in (False, True)]
    load = os.getloadavg()
    print(f"# asyncgen run, {args.tasks} tasks, provider latency {args.latency_ms:g} ms, "
          f"concurrency {args.concurrency}, ${args.price_in} / ${args.price_cached} / "
          f"${args.price_out} per 1M input / cached / output tokens")
    print(f"date {datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores (shared), Python "
          f"{platform.python_version()}, load average {load[0]:.1f}, usage.cost "
          f"{'sent' if args.usage_cost else 'not sent (client prices tokens)'}; command: "
          f"python bench/bench_cache.py --tasks {args.tasks} --latency-ms {args.latency_ms:g} "
          f"--concurrency {args.concurrency}{' --usage-cost' if args.usage_cost else ''}")
    print()
    print("| prompt cache | committed | requests | prompt tokens | cached | cached share | "
          "billed (books) | per committed task | vs baseline | client recorded | "
          "client − bill | wall s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        books, report = r["books"], r["report"]
        billed, recorded = books["billed_usd"], report["cost_usd"]
        per_task = billed / r["committed"] if r["committed"] else float("nan")
        share = books["cached_tokens"] / books["prompt_tokens"] if books["prompt_tokens"] else 0
        print(f"| {'on' if r['cache'] else 'off'} | {r['committed']} | {books['requests']:,} | "
              f"{books['prompt_tokens']:,} | {books['cached_tokens']:,} | {100 * share:.1f}% | "
              f"${billed:.4f} | ${per_task:.6f} | {per_task / BASELINE_PER_TASK:.2f}× | "
              f"${recorded:.4f} | {100 * (recorded - billed) / billed:+.3f}% | "
              f"{r['wall_s']:.1f} |")
    on = results[1]
    print()
    print("Per stage with the cache on (request.completed; prompt and cached tokens per request):")
    print()
    print("| stage | requests | prompt tokens / request | cached / request | cached share |")
    print("|---|---:|---:|---:|---:|")
    for stage, row in on["stages"].items():
        n = row["requests"]
        print(f"| {stage} | {n:,} | {row['prompt_tokens'] / n:,.0f} | "
              f"{row['cached_tokens'] / n:,.0f} | "
              f"{100 * row['cached_tokens'] / row['prompt_tokens']:.1f}% |")
    print()
    print("Fixed prefix (header + demonstrations) per few-shot prompt, simulator tokens: "
          + ", ".join(f"{k} {v:,}" for k, v in _prefix_tokens().items()))
    cache_report = on["report"]["prompt_cache"]["total"]
    print(f"\nreport --json prompt_cache: cached_tokens {cache_report['cached_tokens']:,} "
          f"(books: {on['books']['cached_tokens']:,}), saved ${cache_report['saved_usd']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
