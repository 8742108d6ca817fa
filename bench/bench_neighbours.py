"""Cost of the full-pool similarity fields per admitted candidate (asyncgen.neighbours).

    python bench/bench_neighbours.py [--pools 50000,1000000] [--queries 200] [--rouge-queries 3]

For each pool size (bench/corpus.py's synthetic instructions): build `PoolScores`, then time
`query` (on the event loop: encoding and the pool snapshot) and `neighbours` (in the worker
thread: rapidfuzz cdist over the whole pool + numpy F-measures + top 10) on fresh candidates.
Side by side, the released code's loop (rouge-score against every pool instruction) on the
first few candidates, and a check that both give the same top-10 scores and mean.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from corpus import generate, generate_queries  # noqa: E402
from rouge_score import rouge_scorer, tokenize  # noqa: E402

from asyncgen.neighbours import PoolScores  # noqa: E402


def measure(size: int, queries: int, rouge_queries: int) -> dict[str, float]:
    pool = generate(size, seed=1)
    candidates = generate_queries(pool, queries, seed=2)
    started = time.perf_counter()
    scores = PoolScores(pool[:175])
    for text in pool[175:]:
        scores.add(text)
    build_s = time.perf_counter() - started
    on_loop, in_thread = [], []
    results = []
    for text in candidates:
        t0 = time.perf_counter()
        query = scores.query(text)
        t1 = time.perf_counter()
        results.append(scores.neighbours(query))
        t2 = time.perf_counter()
        on_loop.append(t1 - t0)
        in_thread.append(t2 - t1)
    tokens = [tokenize.tokenize(t, None) for t in pool]  # pre-tokenized, as Alpaca's script
    rouge_s = []
    for text, got in zip(candidates[:rouge_queries], results, strict=False):
        t0 = time.perf_counter()
        target = tokenize.tokenize(text, None)
        ref = [rouge_scorer._score_lcs(target, p).fmeasure for p in tokens]
        rouge_s.append(time.perf_counter() - t0)
        top = sorted(ref, reverse=True)[:10]
        assert sorted(got.most_similar.values(), reverse=True) == top[: len(got.most_similar)]
        assert abs(got.avg_similarity_score - sum(ref) / len(ref)) < 1e-9
    return {
        "pool": size, "build_s": build_s,
        "loop_us": statistics.median(on_loop) * 1e6,
        "thread_ms": statistics.median(in_thread) * 1e3,
        "thread_p95_ms": sorted(in_thread)[int(0.95 * len(in_thread))] * 1e3,
        "rouge_ms": statistics.median(rouge_s) * 1e3 if rouge_s else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", default="50000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rouge-queries", type=int, default=3)
    args = parser.parse_args()
    print(f"{date.today()} {platform.machine()} {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}")
    print("| pool | build s | on the loop µs (median) | worker thread ms (median / p95) "
          "| released loop ms (median) | speed-up |")
    print("|---:|---:|---:|---:|---:|---:|")
    for size in (int(x) for x in args.pools.split(",")):
        r = measure(size, args.queries, args.rouge_queries)
        print(f"| {r['pool']:,} | {r['build_s']:.1f} | {r['loop_us']:.0f} | "
              f"{r['thread_ms']:.1f} / {r['thread_p95_ms']:.1f} | {r['rouge_ms']:,.0f} | "
              f"{r['rouge_ms'] / r['thread_ms']:.0f}x |", flush=True)


if __name__ == "__main__":
    main()
