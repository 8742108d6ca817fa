"""The novelty index of two checkouts on the same corpus, in CPU seconds.

    python bench/bench_index_versions.py CHECKOUT POOL_SIZE [--corpus grammar|zipf]
                                         [--incremental ADDS]

Imports `asyncgen.novelty.similarity` from CHECKOUT (e.g. a `git worktree` of an older commit, or
this one) and the corpus from this checkout's bench/: `grammar` is bench/corpus.py, `zipf`
is bench/corpus_zipf.py (skeletons with content words from a Zipf lexicon, a different
length distribution, half of the candidates near-duplicates). Builds the index over
POOL_SIZE generated instructions with `add_many` where the checkout has it (as a resume
does), then times `is_novel` on 2,000 candidates (the corpus's mix of fresh candidates,
paraphrases and repeats) and on the novel ones alone. CPU time, so two checkouts can run at
once on a shared machine; prints one line.

`--incremental ADDS`: afterwards, add ADDS more instructions one `add` at a time (as the
filter admits them), one `is_novel` query before each, and report the slowest `add` and the
slowest query in wall-clock milliseconds (the event loop's worst stall from the index; on a
shared machine this includes time the process was not scheduled) and in the calling
thread's CPU milliseconds (what the index itself spent), and the rate of both together.
The cyclic GC is handled as `asyncgen.novelty.pool.Pool` does: held off during the build, then
everything frozen, and frozen again every FREEZE_EVERY adds (a full collection walking the
pool would otherwise stall the loop, whatever the index does).
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FREEZE_EVERY = 10_000  # asyncgen.novelty.pool.FREEZE_EVERY

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("checkout")
parser.add_argument("size", type=int)
parser.add_argument("--corpus", choices=("grammar", "zipf"), default="grammar")
parser.add_argument("--incremental", type=int, default=0)
args = parser.parse_args()
sys.path[:0] = [str(HERE), args.checkout]

if args.corpus == "zipf":
    from corpus_zipf import generate, generate_queries
else:
    from corpus import generate, generate_queries

from asyncgen.novelty.similarity import RougeLIndex  # noqa: E402

stream = generate(args.size + args.incremental, seed=1)
pool, later = stream[:args.size], stream[args.size:]
queries = generate_queries(pool, 2000, seed=2)
index = RougeLIndex(min_threshold=0.7)
started = time.process_time()
gc.disable()
if hasattr(index, "add_many"):
    index.add_many(pool)
else:
    for text in pool:
        index.add(text)
gc.enable()
build = time.process_time() - started
gc.freeze()
novel = [text for text in queries if index.is_novel(text)]
started = time.process_time()
for text in queries:
    index.is_novel(text)
mixed = len(queries) / (time.process_time() - started)
started = time.process_time()
for text in novel:
    index.is_novel(text)
novel_qps = len(novel) / (time.process_time() - started)
line = (f"{args.checkout}: corpus={args.corpus} pool={args.size} build_cpu_s={build:.1f}"
        f" mixed_cpu_qps={mixed:.0f} novel_cpu_qps={novel_qps:.0f} novel={len(novel)}")
if later:
    candidates = generate_queries(pool, len(later), seed=3)
    worst_add = worst_query = worst_add_cpu = worst_query_cpu = 0.0
    cpu = time.process_time()
    for added, (text, candidate) in enumerate(zip(later, candidates, strict=True), 1):
        started, started_cpu = time.perf_counter(), time.thread_time()
        index.is_novel(candidate)
        middle, middle_cpu = time.perf_counter(), time.thread_time()
        index.add(text)
        ended, ended_cpu = time.perf_counter(), time.thread_time()
        worst_query = max(worst_query, middle - started)
        worst_add = max(worst_add, ended - middle)
        worst_query_cpu = max(worst_query_cpu, middle_cpu - started_cpu)
        worst_add_cpu = max(worst_add_cpu, ended_cpu - middle_cpu)
        if added % FREEZE_EVERY == 0:
            gc.collect(1)
            gc.freeze()
    rate = len(later) / (time.process_time() - cpu)
    line += (f" incremental={len(later)} worst_add_ms={worst_add * 1000:.1f}"
             f" worst_query_ms={worst_query * 1000:.1f}"
             f" worst_add_cpu_ms={worst_add_cpu * 1000:.1f}"
             f" worst_query_cpu_ms={worst_query_cpu * 1000:.1f}"
             f" add+query_cpu_per_s={rate:.0f}")
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{line} peak_rss_mb={peak:.0f} load={os.getloadavg()[0]:.1f}")
