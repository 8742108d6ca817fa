"""RougeLIndex against a plain rouge-score loop: every decision and every score must match."""

from __future__ import annotations

import json
import math
import random
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz import process
from rapidfuzz.distance import LCSseq
from rouge_score import rouge_scorer
from rouge_score import tokenize as rouge_tokenize

from asyncgen.novelty import postings, prefix, rouge, similarity
from asyncgen.novelty.similarity import RougeLIndex, VocabularyFull, f_measure, rouge_l, tokenize

PAPER_SEEDS = Path(__file__).resolve().parents[3] / "shared" / "reference" / "seed_tasks.jsonl"
SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)

OUR_INSTRUCTIONS = [
    "Write a short poem about the ocean.",
    "Compose a haiku about autumn leaves falling in the park.",
    "Explain photosynthesis to a ten-year-old.",
    "Explain how photosynthesis works in simple terms.",
    "Classify the following sentence as positive or negative.",
    "Is the given review positive or negative?",
    "Write a Python function that reverses a string.",
    "Write a Python function that checks whether a number is prime.",
    "Translate the following sentence into French.",
    "Summarize the article in three sentences.",
    "Give me five tips for a job interview.",
    "List three countries that start with the letter B.",
    "What is the difference between weather and climate?",
    "Suggest a name for a bakery that sells vegan cakes.",
    "Rewrite this email to make it more polite.",
    "Find the next number in the sequence 2, 4, 8, 16.",
    "Solve 3x + 5 = 20 and explain each step.",
    "Generate a list of interview questions for a data scientist.",
    "Describe your ideal weekend in 50 words.",
    "Create a workout plan for a beginner who has 20 minutes a day.",
    "Tell me a joke about computers.",
    "Convert 100 degrees Fahrenheit to Celsius.",
    "Write a cover letter for a junior accountant position.",
    "Identify the verbs in the sentence: the cat sat on the mat.",
    "the the the the the",
    "a b c d e f g h i j",
    "Sort the words: banana, apple, cherry.",
    "Why is the sky blue?",
    "Recommend three books about the history of Rome.",
    "Plan a three-day trip to Kyoto on a budget.",
]

ODD_TEXTS = [
    "",
    "   ",
    "!!!",
    "...?",
    "Write",
    "write.",
    "WRITE!",
    "Écris un poème.",
    "東京について書いて",
    "Москва — столица России",
    "café au lait",
    "ﬁnd the ﬁle",
    "İstanbul in ２０２４",
    "K is Kelvin",
    "emoji 🙂 only 🙂",
    "naïve coöperation",
    "a-b_c.d/e",
    "1 2 3 4 5 6 7 8 9 10",
    "x",
]

FILLERS = ["please", "also", "the", "quickly", "a", "very", "now", "briefly", "Python", "poem"]


def reference(candidate: str, instruction: str) -> float:
    """rouge-score itself, argument order as in the released Self-Instruct code."""
    score: float = SCORER.score(candidate, instruction)["rougeL"].fmeasure
    return score


def mutate(rng: random.Random, text: str) -> str:
    """One paraphrase edit of the kinds a model makes (and a few it should not)."""
    words = text.split()
    kind = rng.randrange(9)
    i = rng.randrange(len(words)) if words else 0
    if kind == 0 and len(words) > 1:
        del words[i]
    elif kind == 1 and len(words) > 1:
        j = min(i + 1, len(words) - 1)
        words[i], words[j] = words[j], words[i]
    elif kind == 2:
        words.insert(i, rng.choice(FILLERS))
    elif kind == 3 and words:
        words[i] += rng.choice([",", "!", "?", " -", "...", ";"])
    elif kind == 4:
        words = [w.upper() if rng.random() < 0.5 else w.title() for w in words]
    elif kind == 5 and words:
        words[i] = rng.choice(["naïve", "é", "東京", "🙂", "Straße", "ﬁle"]) + words[i]
    elif kind == 6:
        words = words[: rng.randint(0, 1)]
    elif kind == 7:
        return ""
    else:
        words = words + rng.sample(FILLERS, 2)
    return " ".join(words)


def replay_stream() -> list[str]:
    """Seed instructions (if present), ours, odd strings and mutated variants, shuffled."""
    base = list(OUR_INSTRUCTIONS)
    if PAPER_SEEDS.exists():
        base += [json.loads(line)["instruction"] for line in PAPER_SEEDS.read_text().splitlines()]
    rng = random.Random(20261121)
    variants = []
    for _ in range(len(base)):
        text = rng.choice(base)
        for _ in range(rng.randint(1, 3)):
            text = mutate(rng, text)
        variants.append(text)
    stream = base + ODD_TEXTS + variants + rng.sample(base, 10)  # + verbatim repeats
    rng.shuffle(stream)
    return stream


def expected_similar(scores: dict[int, float], floor: float) -> list[tuple[int, float]]:
    """The `similar` answer from a plain score table."""
    found = [(key, score) for key, score in scores.items() if score >= floor]
    return sorted(found, key=lambda item: (-item[1], item[0]))


def test_replay_matches_rouge_score_loop() -> None:
    """The filter's life: query, admit the novel (and some repeats); every decision and every
    `similar` score equals the plain rouge-score loop's."""
    stream = replay_stream()
    index = RougeLIndex()
    index._fresh_limit, index._inline_limit = 4, 16  # segments, merges, background merges
    pool: dict[int, list[str]] = {}  # key -> rouge-score tokens of a pool instruction
    rejected = 0
    for step, text in enumerate(stream):
        assert tokenize(text) == rouge_tokenize.tokenize(text, None), text
        tokens = rouge_tokenize.tokenize(text, None)
        # rouge_scorer.score minus re-tokenizing the pool, as the Alpaca script does
        scores = {
            key: rouge_scorer._score_lcs(tokens, other).fmeasure for key, other in pool.items()
        }
        for threshold in (0.7, 0.55):
            expected = all(score <= threshold for score in scores.values())
            assert index.is_novel(text, threshold) is expected, (text, threshold)
        assert index.similar(text, 0.5) == expected_similar(scores, 0.5), text  # prefix index
        if step % 4 == 0:
            assert index.similar(text, 0.2) == expected_similar(scores, 0.2), text  # full scan
        novel = all(score <= 0.7 for score in scores.values())
        rejected += not novel
        if novel or step % 3 == 0:
            key = index.add(text)
            pool[key] = tokens
            assert index.text(key) == text
        assert len(index) == len(pool)
    assert rejected > 20  # the stream did exercise rejections
    for tokens in list(pool.values())[:50]:  # the public API agrees with _score_lcs
        other = " ".join(tokens)
        assert reference(stream[0], other) == rouge_l(stream[0], other)


words = st.sampled_from(
    ["a", "b", "c", "the", "cat", "sat", "on", "mat", "A", "Cat", "é", "1", "x-y", "!"]
)
texts = st.lists(words, max_size=12).map(" ".join)
thresholds = st.one_of(
    st.sampled_from([0.0, 0.3, 0.5, 0.6, 0.7, 0.75, 1.0]), st.floats(min_value=0.0, max_value=1.0)
)


@settings(max_examples=150, deadline=None, database=None)
@given(
    pool=st.lists(texts, max_size=12),
    queries=st.lists(texts, min_size=1, max_size=4),
    threshold=thresholds,
)
def test_random_texts_match_rouge_score(
    pool: list[str], queries: list[str], threshold: float
) -> None:
    index = RougeLIndex()
    index._fresh_limit, index._inline_limit = 2, 4
    keys = [index.add(text) for text in pool]
    live = dict(zip(keys, pool, strict=True))
    for query in queries:
        scores = {key: reference(query, text) for key, text in live.items()}
        assert index.is_novel(query, threshold) is all(s <= threshold for s in scores.values())
        assert index.similar(query, threshold) == expected_similar(scores, threshold)


def words_text(*tokens: object) -> str:
    return " ".join(f"w{token}" for token in tokens)


@pytest.mark.parametrize(
    ("lcs", "m", "n"),
    [
        (7, 10, 10),
        (14, 20, 20),
        (14, 17, 23),  # 2L/(m+n) = 0.7 and the float is exactly 0.7
        (7, 7, 13),
        (7, 9, 11),
        (7, 11, 9),  # = 0.7 in exact arithmetic, a hair above in floats
        (21, 23, 37),
        (21, 37, 23),
    ],
)  # = 0.7 in exact arithmetic, a hair below in floats
def test_threshold_boundary_follows_rouge_floats(lcs: int, m: int, n: int) -> None:
    """`>` versus `>=` at the threshold, with rouge-score's own rounding."""
    candidate = words_text(*range(m))  # the first `lcs` tokens are shared, in order
    instruction = words_text(*range(lcs), *range(100, 100 + n - lcs))
    score = reference(candidate, instruction)
    assert score == f_measure(lcs, m, n) == rouge_l(candidate, instruction)
    assert math.isclose(score, 0.7)
    index = RougeLIndex()
    key = index.add(instruction)
    assert index.is_novel(candidate, 0.7) is (score <= 0.7)
    assert index.similar(candidate, 0.7) == ([(key, score)] if score >= 0.7 else [])
    assert index.similar(candidate, score) == [(key, score)]
    assert index.is_novel(candidate, score) is True
    assert index.is_novel(candidate, math.nextafter(score, 0.0)) is False


def test_exact_boundary_cases_exist() -> None:
    """The parametrized table above covers each float outcome of an exact 0.7."""
    outcomes = {
        (f_measure(7, 10, 10) > 0.7) - (f_measure(7, 10, 10) < 0.7),
        (f_measure(7, 7, 13) > 0.7) - (f_measure(7, 7, 13) < 0.7),
        (f_measure(21, 23, 37) > 0.7) - (f_measure(21, 23, 37) < 0.7),
    }
    assert outcomes == {-1, 0, 1}


@pytest.mark.parametrize(
    "threshold",
    [0.0, 0.1, 0.5, 0.6999999999999999, 0.7, 0.7000000000000001, 2 / 3, 1 / 3, 0.999, 1.0],
)
@pytest.mark.parametrize("strict", [True, False])
def test_min_lcs_equals_brute_force(threshold: float, strict: bool) -> None:
    """The binary search over L finds what scanning every L finds, and scores rise with L."""
    for m in range(0, 41):
        for n in range(0, 41):
            passing = [
                lcs
                for lcs in range(min(m, n) + 1)
                if (
                    f_measure(lcs, m, n) > threshold
                    if strict
                    else f_measure(lcs, m, n) >= threshold
                )
            ]
            assert prefix.min_lcs(m, n, threshold, strict) == (passing[0] if passing else -1)
            if passing:  # monotone: once a length passes, every longer one does
                assert passing == list(range(passing[0], min(m, n) + 1))


@pytest.mark.parametrize("min_threshold", [0.3, 0.5, 0.7, 1.0])
def test_indexed_prefix_covers_every_query_length(min_threshold: float) -> None:
    """An instruction's indexed prefix is long enough for any candidate length."""
    for n in range(1, 40):
        size = prefix.indexed_prefix(n, min_threshold)
        for m in range(1, 200):
            need = prefix.min_lcs(m, n, min_threshold, False)
            if need > 0:
                assert size >= n - need + 1, (n, m)


def test_empty_and_unknown_texts() -> None:
    index = RougeLIndex()
    assert index.is_novel("anything") and index.similar("anything", 0.0) == []
    empty = index.add("¿¡ 東京 !")  # no [a-z0-9] tokens: scores 0.0 against everything
    word = index.add("Write")
    assert index.is_novel("", 0.0) and index.is_novel("東京", 0.0)
    assert index.similar("", 0.0) == [(empty, 0.0), (word, 0.0)]
    assert index.similar("write", 0.5) == [(word, 1.0)]
    assert not index.is_novel("WRITE!!", 0.99)
    assert index.is_novel("zebra crossing", 0.0)  # tokens the pool never saw


def test_repr_shows_live_state() -> None:
    index = RougeLIndex(min_threshold=0.6)
    index.add("Write a poem.")
    index.add("Write a short poem about the sea.")
    assert repr(index) == (
        "<RougeLIndex instructions=2 distinct=2 keys_issued=2 vocabulary=7"
        " lengths=3..7 min_threshold=0.6 segments=0 fresh=2 building=no>"
    )


@pytest.mark.parametrize("bad", [-0.1, 1.5, math.nan])
def test_thresholds_outside_zero_one_fail_fast(bad: float) -> None:
    index = RougeLIndex()
    with pytest.raises(ValueError, match="between 0 and 1"):
        index.is_novel("x", bad)
    with pytest.raises(ValueError, match="between 0 and 1"):
        index.similar("x", bad)


@pytest.mark.parametrize("bad", [0.0, -1.0, 1.5, math.nan])
def test_min_threshold_must_be_in_zero_one(bad: float) -> None:
    with pytest.raises(ValueError, match="min_threshold"):
        RougeLIndex(min_threshold=bad)


def test_rouge_l_matches_rouge_score_both_ways() -> None:
    pairs = [
        ("Write a poem about the sea.", "Compose a poem about the ocean and the sea."),
        ("", "x"),
        ("the cat sat", "the the cat"),
        ("Écrire", "ecrire"),
        ("a b c", "c b a"),
    ]
    for a, b in pairs:
        assert rouge_l(a, b) == reference(a, b)
        assert rouge_l(b, a) == reference(b, a) == reference(a, b)


def test_characters_skip_surrogates_and_run_out_cleanly() -> None:
    index = RougeLIndex()
    vocabulary = index._vocabulary
    vocabulary._count = 0xD7FE
    index.add("alpha beta")
    assert [ord(c) for c in vocabulary._codes.values()] == [0xD7FF, 0xE000]
    assert index.similar("beta alpha", 0.5) == [(0, 0.5)]
    vocabulary._count = rouge.CODE_POINTS - 1
    index.add("gamma")
    assert vocabulary._codes["gamma"] == chr(0x10FFFE)
    with pytest.raises(VocabularyFull, match="distinct tokens"):
        index.add("gamma delta")
    assert "delta" not in vocabulary._codes and len(index) == 2


def test_segments_orders_and_merges_change_no_answer() -> None:
    """Segments built under different token orders (a restore, merges on the loop, a merge
    in the background that re-ranks) answer as a plain scan of every string does."""
    texts = OUR_INSTRUCTIONS + [mutate(random.Random(i), text)
                                for i, text in enumerate(OUR_INSTRUCTIONS)]
    segmented, plain = RougeLIndex(), RougeLIndex()
    segmented._fresh_limit, segmented._inline_limit = 3, 6
    plain._fresh_limit = 10**9  # every string stays fresh: scored by scan
    assert segmented.add_many(texts[:20]) == plain.add_many(texts[:20])
    plain._segments = []  # add_many built one segment: take it away again
    plain._fresh = sorted(plain._sid.values())
    mixed = 0  # steps at which segments of two orders answered
    for step, text in enumerate(texts[20:]):
        key = segmented.add(text)
        assert plain.add(text) == key
        if step % 5 == 4:
            segmented._collect(wait=True)
        if step % 6 == 0:  # any fixed order is exact: shuffle the one new segments get
            frequency = segmented._vocabulary.frequency()
            segmented._order = similarity.Order.by_frequency(
                np.random.default_rng(step).permutation(frequency))
        mixed += len({id(segment.order) for segment in segmented._segments}) > 1
        for probe in (text, texts[step], texts[-step]):
            assert segmented.similar(probe, 0.5) == plain.similar(probe, 0.5), probe
            assert segmented.is_novel(probe) is plain.is_novel(probe)
    assert mixed and len(segmented._segments) > 1, repr(segmented)
    common = segmented._order.table
    codes = segmented._vocabulary._codes
    assert common[ord(codes["the"])] > common[ord(codes["kyoto"])]  # "the" ranks last
    for text in texts + ODD_TEXTS:
        for floor in (0.5, 0.7, 0.9):
            assert segmented.similar(text, floor) == plain.similar(text, floor), text
        assert segmented.is_novel(text) is plain.is_novel(text)
    assert segmented.text(5) == texts[5]


def zipf_stream(rng: random.Random, count: int, vocabulary: int) -> list[str]:
    """Instructions of 3-40 Zipf-drawn words; a fifth paraphrase an earlier one."""
    words = [f"w{rank}" for rank in range(vocabulary)]
    weights = [1.0 / (rank + 1) for rank in range(vocabulary)]
    out: list[str] = []
    for _ in range(count):
        if out and rng.random() < 0.2:
            text = rng.choice(out)
            for _ in range(rng.randint(1, 3)):
                text = mutate(rng, text)
            out.append(text)
        else:
            out.append(" ".join(rng.choices(words, weights, k=rng.randint(3, 40))))
    return out


def test_a_larger_pool_decides_as_a_full_scan() -> None:
    """4,000 instructions (a restore, then one add at a time: segments, merges on the loop and
    in the background): every decision and every score above the threshold equals a full
    scan's, and a sample equals rouge-score's own."""
    rng = random.Random(14)
    pool = zipf_stream(rng, 4000, 3000)
    index = RougeLIndex(min_threshold=0.7)
    index._inline_limit = 600
    index.add_many(pool[:2500])
    restored = index._order
    for text in pool[2500:]:
        index.add(text)
    queries = [mutate(rng, rng.choice(pool)) if rng.random() < 0.5 else text
               for text in zipf_stream(rng, 200, 3000)]
    codes: dict[str, str] = {}
    encoded = ["".join(codes.setdefault(t, chr(len(codes) + 1)) for t in tokenize(text))
               for text in pool]
    above = math.nextafter(0.7, 1.0)
    for number, query in enumerate(queries):
        seq = "".join(codes.setdefault(t, chr(len(codes) + 1)) for t in tokenize(query))
        lcs = process.cdist([seq], encoded, scorer=LCSseq.similarity, dtype=np.int32)[0]
        scores = {key: f_measure(int(lcs[key]), len(seq), len(encoded[key]))
                  for key in np.flatnonzero(lcs * 10 >= 3 * len(seq)).tolist()}
        expected = expected_similar(scores, above)
        assert index.is_novel(query) is not expected, query
        assert index.similar(query, above) == expected, query
        if number < 4:  # rouge-score itself, over the whole pool
            assert max(reference(query, text) for text in pool) == max(
                [score for _, score in index.similar(query, 0.0)], default=0.0)
    while index._build is not None:  # every background merge in place (timing decides how many)
        index._collect(wait=True)
    assert index._segments and index._segments[0].order is not restored, repr(index)


def test_least_lcs_and_the_prefix_table_equal_their_scalar_definitions() -> None:
    """The numpy `least_lcs` is `min_lcs` on every (m, n), and the prefix table is the
    max over m = 1..n+1 of n - need + min(need, ℓ), at thresholds that sit on float edges."""
    m = np.arange(0, 160)[:, None]
    n = np.arange(0, 160)[None, :]
    for threshold in (1e-6, 1 / 3, 0.5, 0.6999999999999999, 0.7, 0.7000000000000001, 1.0):
        for strict in (True, False):
            expected = [[prefix.min_lcs(a, b, threshold, strict) for b in range(160)]
                        for a in range(160)]
            assert prefix.least_lcs(m, n, threshold, strict).tolist() == expected
        table = prefix.prefix_table(300, threshold).tolist()
        for length in range(300):
            sizes = [length - need + min(need, prefix.SHARED) for query in range(1, length + 2)
                     if (need := prefix.min_lcs(query, length, threshold, False)) > 0]
            assert table[length] == max(sizes, default=0), (threshold, length)


def test_instructions_too_long_to_index_are_scored_by_scan() -> None:
    """Pool strings of MAX_INDEXED tokens or more sit outside the segments: found all the
    same, with rouge-score's scores, by is_novel and similar."""
    rng = random.Random(5)
    words = [f"w{i}" for i in range(300)]
    long_texts = [" ".join(rng.choice(words) for _ in range(similarity.MAX_INDEXED + extra))
                  for extra in (0, 1, 40, 300)]
    index = RougeLIndex(min_threshold=0.7)
    index.add_many(OUR_INSTRUCTIONS + long_texts[:2])
    for text in long_texts[2:]:
        index.add(text)
    for text in long_texts:
        near = text.rsplit(" ", 3)[0]  # three tokens fewer: a near-duplicate
        assert not index.is_novel(near)
        found = dict((index.text(key), score) for key, score in index.similar(near, 0.7))
        assert found[text] == SCORER.score(near, text)["rougeL"].fmeasure
    assert index.is_novel(" ".join(rng.choice(words) for _ in range(300)))


def test_a_background_merge_takes_every_segment_made_while_the_last_one_ran(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While a background merge runs, no other merge past the inline limit starts, so small
    segments pile up behind it; the next merge takes them all at once (one segment more per
    query each, else), and every answer stays that of a full scan."""
    held = threading.Event()
    real_build = postings.build_segment

    def slow_build(*args: Any) -> Any:
        if threading.current_thread() is not threading.main_thread():
            held.wait(30)
        return real_build(*args)

    monkeypatch.setattr(similarity, "build_segment", slow_build)
    rng = random.Random(3)
    pool = zipf_stream(rng, 400, 300)
    index = RougeLIndex(min_threshold=0.7)
    index._fresh_limit, index._inline_limit = 8, 16
    for text in pool[:40]:
        index.add(text)
    assert index._build is not None, repr(index)  # the first background merge, held
    for text in pool[40:]:
        index.add(text)
    piled = len(index._segments)
    assert piled > 4, repr(index)  # small segments piled up behind the held merge
    held.set()
    index._collect(wait=True)  # in place; the next merge starts with the newer segments
    assert index._build is not None and len(index._build.sources) > 2, repr(index)
    while index._build is not None:
        index._collect(wait=True)
    assert len(index._segments) < piled / 2, repr(index)
    for query in [mutate(rng, rng.choice(pool)) for _ in range(60)] + pool[:20]:
        seq_scores = [rouge_l(query, text) for text in pool]
        assert index.is_novel(query) is all(score <= 0.7 for score in seq_scores), query


def test_refusal_is_is_novel_and_holds_in_one_answer() -> None:
    """`refusal`: None exactly when `is_novel`, else "duplicate" exactly when `holds`."""
    rng = random.Random(5)
    pool = zipf_stream(rng, 300, 200)
    index = RougeLIndex(min_threshold=0.7)
    index._fresh_limit, index._inline_limit = 8, 16
    for text in pool:
        index.add(text)
    queries = [mutate(rng, rng.choice(pool)) for _ in range(80)] + pool[:40] + [
        f"  {pool[0]} ", pool[1].upper(), "", "entirely unseen words here"]
    reasons = set()
    for query in queries:
        for threshold in (0.7, 0.5, 1.0):
            reason = index.refusal(query, threshold)
            assert (reason is None) is index.is_novel(query, threshold), (query, threshold)
            if reason is not None:
                assert reason == ("duplicate" if index.holds(query) else "similar"), query
            reasons.add(reason)
    assert reasons == {None, "duplicate", "similar"}
