"""The full-pool similarity fields (novelty.neighbours) against rouge-score, and in a run."""

from __future__ import annotations

import random
from pathlib import Path

import anyio
import orjson
import pytest
from rouge_score import rouge_scorer

from asyncgen.cli import main
from asyncgen.novelty import neighbours
from asyncgen.novelty.neighbours import Neighbours, PoolScores, Query
from asyncgen.novelty.pool import Admitted, Pool, load_seeds
from asyncgen.rundir.tasks import load_tasks
from tests.conftest import OUR_SEEDS

SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
WORDS = "the a list of words sort this given text write short poem about sea find all red".split()


def reference(candidate: str, pool: list[str]) -> list[float]:
    """What the released code computes: rouge-score with the candidate as the target."""
    return [SCORER.score(candidate, text)["rougeL"].fmeasure for text in pool]


def check(got: Neighbours, candidate: str, pool: list[str], seeds: int) -> None:
    """Exact top 10 (ties may pick either), exact scores, exact mean, best seed."""
    scores = reference(candidate, pool)
    best = dict(sorted(zip(pool, scores, strict=True), key=lambda kv: -kv[1]))
    assert len(got.most_similar) == min(10, len(best))
    for text, score in got.most_similar.items():
        assert score == best[text]  # the same bits
    tenth = min(got.most_similar.values())
    assert {t for t, s in best.items() if s > tenth} <= set(got.most_similar)
    assert got.avg_similarity_score == pytest.approx(sum(scores) / len(scores), abs=1e-12)
    if seeds:
        ((seed, score),) = got.most_similar_seed.items()
        assert score == max(scores[:seeds]) and seed in pool[:seeds]


def random_text(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(0, 9))
    return " ".join(words) + rng.choice(["", ".", "?", " 42", " ünïcode"])


@pytest.mark.parametrize("seed", range(6))
def test_fields_equal_rouge_score_over_the_whole_pool(seed: int) -> None:
    rng = random.Random(seed)
    seeds = list(dict.fromkeys(random_text(rng) for _ in range(rng.randint(0, 8))))
    scores = PoolScores(seeds)
    live = list(seeds)
    keys = list(range(len(seeds)))
    for _ in range(40):
        candidate = random_text(rng)
        query = scores.query(candidate)
        got = scores.neighbours(query)
        if live:
            check(got, candidate, live, sum(1 for k in keys if k < len(seeds)))
        else:
            assert got == Neighbours()
        if candidate in live:
            continue  # admission refuses a duplicate (ROUGE-L 1.0)
        keys.append(scores.add(candidate))
        live.append(candidate)
        if rng.random() < 0.2 and len(keys) > len(seeds):  # release a generated one
            at = rng.randrange(len(seeds), len(keys))
            scores.discard(keys.pop(at))
            live.pop(at)
        assert len(scores) == len(live)


def test_a_query_sees_the_pool_as_it_was_at_admission() -> None:
    scores = PoolScores(["sort the list of numbers"])
    query = scores.query("sort the list of numbers please")
    scores.add("sort the list of numbers please now")  # admitted after it: not seen
    scores.discard(0)  # released after it: still seen
    got = scores.neighbours(query)
    assert list(got.most_similar) == ["sort the list of numbers"]
    with pytest.raises(KeyError):
        scores.discard(0)


def test_pool_admission_queries_before_adding_the_candidate() -> None:
    pool = Pool(load_seeds(OUR_SEEDS))
    verdict = pool.admit("Write a limerick about a lighthouse keeper and his cat.")
    assert isinstance(verdict, Admitted)
    got = pool.scores.neighbours(verdict.query)
    assert verdict.instruction not in got.most_similar
    assert len(got.most_similar) == 10 and got.most_similar_seed


async def _pending_roundtrip() -> Neighbours:
    scores = PoolScores(["sort the list", "write a poem"])
    async with anyio.create_task_group() as tg:
        tg.start_soon(scores.run)
        pending = scores.submit(scores.query("sort a list"))
        got = await pending.get()
        scores.close()
    return got


def test_score_runs_in_a_worker_thread_and_hands_over() -> None:
    got = anyio.run(_pending_roundtrip)
    assert list(got.most_similar)[0] == "sort the list"


async def _batched(scores: PoolScores, queries: list[Query]) -> list[Neighbours]:
    pendings = [scores.submit(query) for query in queries]  # queued before the pass starts
    async with anyio.create_task_group() as tg:
        tg.start_soon(scores.run)
        scores.close()
    assert scores.passes < len(queries)  # batched: fewer passes than queries
    return [await pending.get() for pending in pendings]


@pytest.mark.parametrize("seed", range(4))
def test_a_batch_over_chunks_in_threads_equals_rouge_score(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many candidates per pass, each seeing its own pool; chunks shared out among threads."""
    monkeypatch.setattr(neighbours, "CHUNK", 7)
    monkeypatch.setattr(neighbours, "THREADS", 3)
    monkeypatch.setattr(neighbours, "BATCH_MAX", 16)
    rng = random.Random(seed)
    seeds = list(dict.fromkeys(random_text(rng) for _ in range(rng.randint(1, 12))))
    scores = PoolScores(seeds)
    live, keys = list(seeds), list(range(len(seeds)))
    asked: list[tuple[Query, str, list[str]]] = []
    for _ in range(60):
        candidate = random_text(rng)
        asked.append((scores.query(candidate), candidate, list(live)))
        if candidate in live:
            continue
        keys.append(scores.add(candidate))
        live.append(candidate)
        if rng.random() < 0.15 and len(keys) > len(seeds):
            at = rng.randrange(len(seeds), len(keys))
            scores.discard(keys.pop(at))
            live.pop(at)
    results = anyio.run(_batched, scores, [query for query, _, _ in asked])
    for got, (_, candidate, pool) in zip(results, asked, strict=True):
        check(got, candidate, pool, len(seeds))


def test_ties_keep_the_lowest_keys_across_chunks_and_threads(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(neighbours, "CHUNK", 3)
    monkeypatch.setattr(neighbours, "THREADS", 2)
    pool = [f"write word{n} now" for n in range(40)]  # all score the same against the query
    scores = PoolScores(pool[:4])
    for text in pool[4:]:
        scores.add(text)
    (got,) = anyio.run(_batched, scores, [scores.query("write a poem now"),
                                           scores.query("x")])[:1]
    assert list(got.most_similar) == pool[:10]
    assert got.most_similar_seed == {pool[0]: got.most_similar[pool[0]]}


def test_a_query_at_a_size_sees_only_the_pool_before_it() -> None:
    """A resumed task is scored against the first `size` entries only (asyncgen.rundir.fields)."""
    rng = random.Random(7)
    texts = list(dict.fromkeys(random_text(rng) for _ in range(60)))
    scores = PoolScores(texts[:5])
    for text in texts[5:]:
        scores.add(text)
    for size in (5, 17, len(texts) - 1):
        candidate = texts[size]
        check(scores.neighbours(scores.query_at(candidate, size)), candidate, texts[:size], 5)
    with pytest.raises(ValueError, match="out of the pool"):
        scores.query_at("x", len(texts) + 1)


def test_a_run_records_the_released_fields(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Sampled tasks of a run: exact top 10 over seeds + earlier tasks, mean within 0.02."""
    for var in ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "ASYNCGEN_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    out = tmp_path / "out"
    assert main(["run", "--out", str(out), "--target-instructions", "30",
                 "--log-format", "none", "--event-detail", "full"]) == 0  # admitted texts
    tasks = [task.to_json() for task in load_tasks(out)[0]]  # fields.jsonl's joined
    seeds = [s.instruction for s in load_seeds(OUR_SEEDS)]
    # the pool a task was admitted into: the seeds and every instruction admitted before it
    # (tasks are committed as their fields are ready, not always in the order admitted)
    admitted = [event["instruction"] for event in map(orjson.loads,
                                                      (out / "events.jsonl").read_bytes()
                                                      .splitlines())
                if event["event"] == "task.admitted"]
    empty = 0
    for n in (0, 7, 15, 29):
        task = tasks[n]
        pool = seeds + admitted[:admitted.index(task["instruction"])]
        scores = reference(task["instruction"], pool)
        best = dict(zip(pool, scores, strict=True))
        similar = task["most_similar"]
        assert len(similar) == 10
        empty += not similar
        for text, score in similar.items():
            assert score == SCORER.score(task["instruction"], text)["rougeL"].fmeasure
        tenth = min(similar.values())
        assert {t for t, s in best.items() if s > tenth} <= set(similar)
        assert abs(task["avg_similarity_score"] - sum(scores) / len(scores)) <= 0.02
        ((seed, score),) = task["most_similar_seed"].items()
        assert seed in seeds and score == max(scores[: len(seeds)])
    assert not empty


def test_a_tiny_threshold_builds_the_index_in_bounded_time() -> None:
    """`_indexed_prefix` scanned 2n/threshold lengths: at 1e-6 that hung at 100 % CPU."""
    pool = Pool(load_seeds(OUR_SEEDS), threshold=0.000001)
    pool.admit("Name three rivers that flow north in Europe.")  # refused or not: it returns
    assert len(pool) >= len(pool.seeds)


def test_the_record_floor_is_gone(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--out", "x", "--similarity-record-floor", "0.000001"]) == 2
    assert "--similarity-record-floor" in capsys.readouterr().err
