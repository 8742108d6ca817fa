"""Cost of the full-pool similarity fields per admitted candidate (asyncgen.novelty.neighbours).

    python bench/bench_neighbours.py [--pools 100000,300000,1000000] [--queries 128]
                                     [--batch 64] [--rouge-queries 1] [--sample 0]

For each pool size (bench/corpus.py's synthetic instructions): build `PoolScores`, then time
`query` (on the event loop: encoding and the pool snapshot) and the scoring passes as a run
makes them (`submit` + `PoolScores.run`, worker threads on every core): one candidate per pass,
and `--batch` candidates per pass (a lagging queue), wall and CPU time per candidate, with the
event loop's worst stall while the passes run (a 5 ms asyncio timer's worst lateness). Side by
side, the released code's loop (rouge-score against every pool instruction) on the first few
candidates, and a check that both give the same top-10 scores and mean. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import anyio  # noqa: E402
from corpus import generate, generate_queries  # noqa: E402
from rouge_score import rouge_scorer, tokenize  # noqa: E402

from asyncgen.novelty import neighbours  # noqa: E402
from asyncgen.novelty.neighbours import Neighbours, PoolScores, Query  # noqa: E402

Timed = tuple[float, float, float, list[Neighbours]]


async def _passes(scores: PoolScores, queries: list[Query], batch: int) -> Timed:
    """Score `queries` `batch` per pass (what `PoolScores.run` does with a queue that long):
    wall s, CPU s, the loop's worst stall s, the fields."""
    worst = 0.0

    async def tick() -> None:
        nonlocal worst
        while True:
            due = time.perf_counter() + 0.005
            await anyio.sleep(0.005)
            worst = max(worst, time.perf_counter() - due)

    results: list[Neighbours] = []
    wall = cpu = 0.0
    async with anyio.create_task_group() as tg:
        tg.start_soon(tick)
        for at in range(0, len(queries), batch):
            t0, c0 = time.perf_counter(), time.process_time()
            results += await scores._scored(queries[at:at + batch])
            wall += time.perf_counter() - t0
            cpu += time.process_time() - c0
        tg.cancel_scope.cancel()
    return wall, cpu, worst, results


def measure(size: int, queries: int, batch: int, rouge_queries: int,
            sample: int = 0) -> dict[str, float]:
    pool = generate(size, seed=1)
    candidates = generate_queries(pool, queries, seed=2)
    started = time.perf_counter()
    scores = PoolScores(pool[:175], sample=sample)
    for text in pool[175:]:
        scores.add(text)
    build_s = time.perf_counter() - started
    t0 = time.perf_counter()
    asked = [scores.query(text) for text in candidates]
    loop_us = (time.perf_counter() - t0) / len(asked) * 1e6
    singles = min(len(asked), 8)
    one_wall, one_cpu, one_lag, _ = anyio.run(_passes, scores, asked[:singles], 1)
    wall, cpu, lag, results = anyio.run(_passes, scores, asked, batch)
    tokens = [tokenize.tokenize(t, None) for t in pool]  # pre-tokenized, as Alpaca's script
    rouge_s = []
    for text, got in zip(candidates[:0 if sample else rouge_queries], results, strict=False):
        t0 = time.perf_counter()
        target = tokenize.tokenize(text, None)
        ref = [rouge_scorer._score_lcs(target, p).fmeasure for p in tokens]
        rouge_s.append(time.perf_counter() - t0)
        top = sorted(ref, reverse=True)[:10]
        assert sorted(got.most_similar.values(), reverse=True) == top[: len(got.most_similar)]
        assert abs(got.avg_similarity_score - sum(ref) / len(ref)) < 1e-9
    return {
        "pool": size, "build_s": build_s, "loop_us": loop_us,
        "one_ms": one_wall / singles * 1e3, "one_cpu_ms": one_cpu / singles * 1e3,
        "batch_ms": wall / len(asked) * 1e3, "batch_cpu_ms": cpu / len(asked) * 1e3,
        "lag_ms": max(one_lag, lag) * 1e3,
        "rouge_ms": statistics.median(rouge_s) * 1e3 if rouge_s else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", default="100000,300000,1000000")
    parser.add_argument("--queries", type=int, default=128)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rouge-queries", type=int, default=1)
    parser.add_argument("--sample", type=int, default=0,
                        help="estimated fields (run --fields sample): generated instructions "
                        "sampled (no rouge-score check then)")
    args = parser.parse_args()
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC {platform.machine()} {os.cpu_count()} cores "
          f"({neighbours.THREADS} scanning threads), Python {platform.python_version()}, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"| pool | build s | on the loop µs | 1 per pass: wall / CPU ms | {args.batch} per "
          "pass: wall / CPU ms per candidate | candidates/s | worst loop stall ms "
          "| released loop ms | speed-up (batched wall) | load |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in (int(x) for x in args.pools.split(",")):
        r = measure(size, args.queries, args.batch, args.rouge_queries, args.sample)
        print(f"| {r['pool']:,} | {r['build_s']:.1f} | {r['loop_us']:.0f} | "
              f"{r['one_ms']:.1f} / {r['one_cpu_ms']:.1f} | {r['batch_ms']:.2f} / "
              f"{r['batch_cpu_ms']:.2f} | {1e3 / r['batch_ms']:,.0f} | {r['lag_ms']:.1f} | "
              f"{r['rouge_ms']:,.0f} | {r['rouge_ms'] / r['batch_ms']:,.0f}x | "
              f"{os.getloadavg()[0]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
