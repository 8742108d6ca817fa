"""The novelty index of two checkouts on the same corpus, in CPU seconds.

    python bench/bench_index_versions.py CHECKOUT POOL_SIZE

Imports `asyncgen.similarity` and `bench/corpus.py` from CHECKOUT (e.g. a `git worktree` of an
older commit, and this one), builds the index over POOL_SIZE generated instructions (with
`add_many` where the checkout has it, as a resume does), then times `is_novel` on 2,000
candidates (a mix with paraphrases and repeats) and on the novel ones alone. CPU time, so two
checkouts can run at once on a shared machine; prints one line.
"""

from __future__ import annotations

import resource
import sys
import time

root, size = sys.argv[1], int(sys.argv[2])
sys.path[:0] = [root + "/bench", root]

from corpus import generate, generate_queries  # noqa: E402

from asyncgen.similarity import RougeLIndex  # noqa: E402

pool = generate(size, seed=1)
queries = generate_queries(pool, 2000, seed=2)
index = RougeLIndex(min_threshold=0.7)
started = time.process_time()
if hasattr(index, "add_many"):
    index.add_many(pool)
else:
    for text in pool:
        index.add(text)
build = time.process_time() - started
novel = [text for text in queries if index.is_novel(text)]
started = time.process_time()
for text in queries:
    index.is_novel(text)
mixed = len(queries) / (time.process_time() - started)
started = time.process_time()
for text in novel:
    index.is_novel(text)
novel_qps = len(novel) / (time.process_time() - started)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{root}: pool={size} build_cpu_s={build:.1f} mixed_cpu_qps={mixed:.0f}"
      f" novel_cpu_qps={novel_qps:.0f} novel={len(novel)} peak_rss_mb={peak:.0f}")
