"""CPU per ROUGE-L verdict (`Pool.admit`) as the filter makes them, at a given pool size.

    python bench/bench_verdicts.py [--pool 100000] [--verdicts 5000] [--settled]
                                   [--profile tottime] [--seed 1]

Grows a pool from the paper's seed tasks one `add` at a time, as a run does (segments,
merges on the caller's thread and in the background), with instructions the simulator's
generator writes (`asyncgen.sim.instructions`: novel ones and near-duplicates of the
prompt's examples), then replays that many more of its candidates, each with eight pool
instructions as the prompt's examples, through `Pool.admit` (admitted ones join the pool),
and prints the CPU per verdict of this process. The pool grows far faster here than in a run
(thousands of adds a second), so background merges lag behind it; `--settled` waits for
them before the replay. `--profile KEY` prints cProfile's top 30 sorted by KEY.
"""

from __future__ import annotations

import argparse
import cProfile
import platform
import pstats
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

from asyncgen.novelty.pool import Admitted, Pool, load_seeds  # noqa: E402
from asyncgen.sim import instructions  # noqa: E402

SEEDS = Path("/work/shared/reference/seed_tasks.jsonl")
EXAMPLES = 8  # pool instructions per prompt, as the default --machine/--human-per-prompt
WARMUP = 300  # verdicts before the timed ones (compiled kernels, caches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=100_000)
    parser.add_argument("--verdicts", type=int, default=5_000)
    parser.add_argument("--settled", action="store_true")
    parser.add_argument("--profile", default="")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seeds", type=Path, default=SEEDS)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    pool = Pool(load_seeds(args.seeds))
    texts = [seed.instruction for seed in pool.seeds]
    started = time.perf_counter()
    while len(pool) < args.pool:
        for item in instructions.list_items(rng, rng.sample(texts, EXAMPLES), 9)[0]:
            texts.append(item)
            pool._add(item)  # as admitted, without its verdict
    index = pool._index
    while args.settled and index._build is not None:
        index._collect(wait=True)
    grown, size = time.perf_counter() - started, len(pool)
    candidates: list[str] = []
    while len(candidates) < args.verdicts + WARMUP:
        candidates += instructions.list_items(rng, rng.sample(texts, EXAMPLES), 9)[0]
    for text in candidates[:WARMUP]:
        pool.admit(text, nearest=False)
    timed = candidates[WARMUP:WARMUP + args.verdicts]
    profile = cProfile.Profile() if args.profile else None
    cpu = time.process_time()
    if profile:
        profile.enable()
    admitted = sum(isinstance(pool.admit(text, nearest=False), Admitted) for text in timed)
    if profile:
        profile.disable()
    cpu = time.process_time() - cpu
    print(f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {platform.python_version()},"
          f" pool grown to {size:,} in {grown:.1f} s{' (settled)' if args.settled else ''}")
    print(f"index: {index!r}")
    print(f"{len(timed):,} verdicts, {admitted:,} admitted: "
          f"**{cpu / len(timed) * 1e6:.0f} µs CPU per verdict**")
    if profile:
        pstats.Stats(profile).sort_stats(args.profile).print_stats(30)


if __name__ == "__main__":
    main()
