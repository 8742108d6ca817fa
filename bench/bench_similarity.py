"""RougeLIndex against the plain rouge-score loop, side by side in one run.

    python bench/bench_similarity.py [--pools 1000,10000,50000,100000] [--queries 2000]
                                     [--rouge-queries 3] [--seed 1]

Each pool size runs in its own subprocess, so its resident memory is its own. In it:
build the index from a synthetic pool (bench/corpus.py), time `is_novel` on fresh
candidates (paraphrases and repeats of pool instructions among them), then time the plain
loop the released scripts run (pool pre-tokenized as in the Alpaca script, rouge-score's
LCS against every pool instruction) on the first few of the same candidates, and check
that both decide the same. Prints a markdown table; the ratio is per query.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from corpus import generate, generate_queries  # noqa: E402
from rouge_score import rouge_scorer  # noqa: E402

from asyncgen.novelty.similarity import RougeLIndex  # noqa: E402

THRESHOLD = 0.7
SIMILAR_QUERIES = 500  # candidates timed with similar(text, 0.5)
SCAN_QUERIES = 20  # candidates timed with similar(text, 0.0), a full scan


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MB."""
    status = Path("/proc/self/status")
    if status.exists():
        fields = dict(line.split(":", 1) for line in status.read_text().splitlines())
        return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return peak, peak


def measure(pool_size: int, queries: int, rouge_queries: int, seed: int) -> dict[str, float]:
    """One pool size, in this process."""
    pool = generate(pool_size, seed=seed)
    candidates = generate_queries(pool, queries, seed=seed + 1)
    warmup = generate_queries(pool, 50, seed=seed + 2)
    before, _ = rss_mb()

    started = time.perf_counter()
    index = RougeLIndex()
    index.add_many(pool)  # as a resume restores the pool
    build_s = time.perf_counter() - started
    after, _ = rss_mb()

    for text in warmup:
        index.is_novel(text, THRESHOLD)
    wall, cpu = time.perf_counter(), time.process_time()
    decisions, novel_s = [], 0.0
    for text in candidates:
        started = time.perf_counter()
        novel = index.is_novel(text, THRESHOLD)
        if novel:  # admitted candidates are the costliest: every survivor is scored
            novel_s += time.perf_counter() - started
        decisions.append(novel)
    index_wall, index_cpu = time.perf_counter() - wall, time.process_time() - cpu
    started = time.perf_counter()
    for text in candidates[:SIMILAR_QUERIES]:
        index.similar(text, 0.5)
    similar_s = (time.perf_counter() - started) / min(SIMILAR_QUERIES, queries)
    started = time.perf_counter()
    for text in candidates[:SCAN_QUERIES]:
        index.similar(text, 0.0)
    scan_s = (time.perf_counter() - started) / min(SCAN_QUERIES, queries)
    rss_index, _ = rss_mb()  # before the baseline allocates its pre-tokenized pool

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    pool_tokens = [scorer._tokenizer.tokenize(text) for text in pool]  # untimed, as Alpaca
    wall, cpu = time.perf_counter(), time.process_time()
    plain = []
    for text in candidates[:rouge_queries]:
        tokens = scorer._tokenizer.tokenize(text)
        scores = [rouge_scorer._score_lcs(tokens, other).fmeasure for other in pool_tokens]
        plain.append(max(scores) <= THRESHOLD)
    rouge_wall, rouge_cpu = time.perf_counter() - wall, time.process_time() - cpu

    return {
        "pool": pool_size, "build_s": build_s,
        "index_qps": queries / index_wall, "index_cpu_qps": queries / index_cpu,
        "rouge_qps": rouge_queries / rouge_wall, "rouge_cpu_qps": rouge_queries / rouge_cpu,
        "similar_ms": similar_s * 1000, "scan_ms": scan_s * 1000,
        "novel": sum(decisions) / queries, "novel_qps": sum(decisions) / novel_s,
        "mismatches": sum(a != b for a, b in zip(plain, decisions, strict=False)),
        "rss_mb": rss_index, "peak_mb": rss_mb()[1], "index_mb": after - before,
    }


def table(rows: list[dict[str, float]]) -> str:
    """The markdown table for bench/README.md."""
    lines = ["| pool | build s | is_novel q/s | rouge-score loop q/s | ratio | is_novel q/s CPU"
             " | ratio CPU | novel | novel-only q/s | RSS MB | index MB | similar(0.5) ms"
             " | similar(0) ms | mismatches |",
             "|" + "---:|" * 14]
    for r in rows:
        lines.append(
            f"| {r['pool']:,} | {r['build_s']:.2f} | {r['index_qps']:,.0f} | {r['rouge_qps']:.3g}"
            f" | {r['index_qps'] / r['rouge_qps']:,.0f}x | {r['index_cpu_qps']:,.0f}"
            f" | {r['index_cpu_qps'] / r['rouge_cpu_qps']:,.0f}x | {r['novel']:.0%}"
            f" | {r['novel_qps']:,.0f}"
            f" | {r['rss_mb']:.0f} | {r['index_mb']:.0f} | {r['similar_ms']:.2f}"
            f" | {r['scan_ms']:.1f} | {r['mismatches']:.0f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", default="1000,10000,50000,100000")
    parser.add_argument("--queries", type=int, default=2000, help="is_novel queries per pool")
    parser.add_argument("--rouge-queries", type=int, default=3,
                        help="candidates the plain rouge-score loop scores per pool")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # run one pool, print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.queries, args.rouge_queries, args.seed)))
        return 0

    rows = []
    load_before = os.getloadavg()
    for size in (int(s) for s in args.pools.split(",")):
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(size), "--queries", str(args.queries),
             "--rouge-queries", str(args.rouge_queries), "--seed", str(args.seed)],
            check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out))
        print(f"pool {size:,} done", file=sys.stderr)
    load_after = os.getloadavg()
    print(f"date {date.today()}, {os.cpu_count()} cores ({platform.machine()}), Python"
          f" {platform.python_version()}, load average {load_before[0]:.2f} before /"
          f" {load_after[0]:.2f} after (the CPU is shared with other jobs)")
    print(f"command: python bench/bench_similarity.py {' '.join(sys.argv[1:])}".rstrip())
    print()
    print(table(rows))
    print()
    print("q/s: wall clock, one process, one thread; CPU: the same per process CPU second."
          " rouge-score loop: first --rouge-queries candidates, pool pre-tokenized (untimed)."
          " novel: share of candidates is_novel admits; novel-only q/s: the rate on those alone."
          " RSS: resident set after the queries (Python, corpus, pool texts and index);"
          " index MB: RSS growth while building."
          " mismatches: decisions where the loop and the index differ.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
