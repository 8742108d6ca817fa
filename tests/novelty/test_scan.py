"""The compiled whole-pool scan (novelty.scan) as `PoolScores` runs it: the same fields as
rouge-score and as the rapidfuzz path, batched, its keys split among threads."""

from __future__ import annotations

import random

import anyio
import pytest

from asyncgen.novelty import neighbours
from asyncgen.novelty.neighbours import Neighbours, PoolScores, Query
from asyncgen.novelty.scan import WORD
from tests.novelty.test_neighbours import WORDS, _batched, check, random_text


def _threads(monkeypatch: pytest.MonkeyPatch, *, kernel_batch: int = 5) -> None:
    monkeypatch.setattr(neighbours, "THREADS", 3)
    monkeypatch.setattr(neighbours, "SHARE_MIN", 4)  # tiny pools split among threads too
    monkeypatch.setattr(neighbours, "KERNEL_BATCH", kernel_batch)
    monkeypatch.setattr(neighbours, "BATCH_MAX", 16)


def _long_text(rng: random.Random) -> str:
    """More tokens than one word of bits: the rapidfuzz path."""
    return " ".join(rng.choices(WORDS, k=rng.randint(WORD + 1, WORD + 20)))


@pytest.mark.parametrize("seed", range(4))
def test_batches_split_among_threads_equal_rouge_score(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Candidates of 0 to 64 tokens by the kernel, longer ones by rapidfuzz, in one queue;
    each sees the pool as it was at its admission."""
    _threads(monkeypatch)
    rng = random.Random(seed)
    seeds = list(dict.fromkeys(random_text(rng) for _ in range(rng.randint(1, 12))))
    scores = PoolScores(seeds)
    live = list(seeds)
    asked: list[tuple[Query, str, list[str]]] = []
    for n in range(70):
        candidate = _long_text(rng) if n % 9 == 4 else random_text(rng)
        if n % 13 == 0:  # exactly one word of tokens
            candidate = " ".join(rng.choices(WORDS, k=WORD))
        asked.append((scores.query(candidate), candidate, list(live)))
        if candidate not in live:
            scores.add(candidate)
            live.append(candidate)
    assert any(len(query.seq) > WORD for query, _, _ in asked)
    assert any(len(query.seq) == WORD for query, _, _ in asked)
    results = anyio.run(_batched, scores, [query for query, _, _ in asked])
    for got, (query, candidate, pool) in zip(results, asked, strict=True):
        check(got, candidate, pool, len(seeds))
        alone = scores.neighbours(query)  # one at a time: the same fields (the mean summed
        assert list(got.most_similar.items()) == list(alone.most_similar.items())  # in
        assert got.most_similar_seed == alone.most_similar_seed  # another order: last bit)
        assert got.avg_similarity_score == pytest.approx(alone.avg_similarity_score, abs=1e-12)


def test_the_kernel_and_rapidfuzz_give_the_same_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Top 10 in the same order (ties: the lowest keys), the same floats, the same seed."""
    rng = random.Random(11)
    pool = list(dict.fromkeys(random_text(rng) for _ in range(300)))
    scores = PoolScores(pool[:20])
    for text in pool[20:]:
        scores.add(text)
    queries = [scores.query(random_text(rng)) for _ in range(40)]
    _threads(monkeypatch, kernel_batch=7)
    kernel = anyio.run(scores._scored, queries)
    cdist = anyio.run(scores._cdist, queries)
    for got, want in zip(kernel, cdist, strict=True):
        assert list(got.most_similar.items()) == list(want.most_similar.items())
        assert got.most_similar_seed == want.most_similar_seed
        assert got.avg_similarity_score == pytest.approx(want.avg_similarity_score, abs=1e-12)


def test_ties_keep_the_lowest_keys_across_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    _threads(monkeypatch)
    pool = [f"write word{n} now" for n in range(40)]  # all score the same against the query
    scores = PoolScores(pool[:4])
    for text in pool[4:]:
        scores.add(text)
    (got,) = anyio.run(_batched, scores, [scores.query("write a poem now"),
                                           scores.query("x")])[:1]
    assert list(got.most_similar) == pool[:10]
    assert got.most_similar_seed == {pool[0]: got.most_similar[pool[0]]}


def test_an_empty_pool_and_a_pool_grown_past_its_arrays() -> None:
    """Nothing to score: no fields; thousands of adds: the flat arrays grow by copying, and a
    query keeps the pool it was taken against."""
    scores = PoolScores()
    assert scores.neighbours(scores.query("anything")) == Neighbours()
    rng = random.Random(3)
    texts = list(dict.fromkeys(random_text(rng) + f" n{n}" for n in range(3000)))
    first = scores.query(texts[0])
    for text in texts[:1500]:
        scores.add(text)
    early = scores.query(texts[1500])
    for text in texts[1500:]:
        scores.add(text)
    assert scores.neighbours(first) == Neighbours()
    check(scores.neighbours(early), texts[1500], texts[:1500], 0)
