"""The project's own seed set, data/seed_tasks.jsonl: schema, balance, and diversity."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from rouge_score import rouge_scorer, tokenize

SEEDS = Path(__file__).resolve().parents[2] / "data" / "seed_tasks.jsonl"
PAPER_SEEDS = Path(__file__).resolve().parents[3] / "shared" / "reference" / "seed_tasks.jsonl"

TASK_KEYS = {"id", "name", "instruction", "instances", "is_classification"}
INSTANCE_KEYS = {"input", "output"}
BLACKLIST = (
    "image", "images", "graph", "graphs", "picture", "pictures",
    "file", "files", "map", "maps", "draw", "plot", "go to",
)  # fmt: skip
BLACKLIST_RE = re.compile(r"\b(?:" + "|".join(map(re.escape, BLACKLIST)) + r")\b", re.IGNORECASE)
ID_RE = re.compile(r"seed-\d{3}")
NAME_RE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
ROUGE_LIMIT = 0.7

Task = dict[str, Any]


def _load(path: Path) -> list[Task]:
    """Parse a JSONL seed file, one object per non-blank line."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@pytest.fixture(scope="module")
def seeds() -> list[Task]:
    return _load(SEEDS)


def _no_input(task: Task) -> bool:
    """True when every instance has an empty input (the instruction is self-contained)."""
    return all(not inst["input"].strip() for inst in task["instances"])


def _max_pair_rouge(instructions: list[str]) -> tuple[float, str, str]:
    """Highest ROUGE-L F over all pairs, as RougeScorer(["rougeL"], use_stemmer=False) scores it.

    Tokenizes each instruction once, then runs the scorer's own LCS routine per pair; the
    F-measure is symmetric, so each unordered pair is scored once.
    """
    tokens = [tokenize.tokenize(text, None) for text in instructions]
    best = (0.0, "", "")
    for i, j in itertools.combinations(range(len(tokens)), 2):
        score = rouge_scorer._score_lcs(tokens[i], tokens[j]).fmeasure
        if score > best[0]:
            best = (score, instructions[i], instructions[j])
    return best


def test_every_task_has_the_paper_schema(seeds: list[Task]) -> None:
    for number, task in enumerate(seeds):
        where = f"line {number + 1}"
        assert set(task) == TASK_KEYS, where
        assert isinstance(task["id"], str) and ID_RE.fullmatch(task["id"]), where
        assert isinstance(task["name"], str) and NAME_RE.fullmatch(task["name"]), where
        assert isinstance(task["instruction"], str), where
        assert task["instruction"] == task["instruction"].strip() and task["instruction"], where
        assert isinstance(task["is_classification"], bool), where
        instances = task["instances"]
        assert isinstance(instances, list) and 1 <= len(instances) <= 3, where
        for inst in instances:
            assert isinstance(inst, dict) and set(inst) == INSTANCE_KEYS, where
            assert isinstance(inst["input"], str) and isinstance(inst["output"], str), where
            assert inst["output"].strip(), f"{where}: empty output"
            assert inst["output"].strip() != inst["input"].strip(), f"{where}: output = input"


def test_ids_are_sequential_and_names_unique(seeds: list[Task]) -> None:
    assert [t["id"] for t in seeds] == [f"seed-{n:03d}" for n in range(len(seeds))]
    names = [t["name"] for t in seeds]
    assert len(set(names)) == len(names), sorted(n for n in names if names.count(n) > 1)
    instructions = [t["instruction"].lower() for t in seeds]
    assert len(set(instructions)) == len(instructions)


def test_size_and_classification_share(seeds: list[Task]) -> None:
    assert len(seeds) >= 175
    classification = [t for t in seeds if t["is_classification"]]
    assert len(classification) >= 25
    # The classify prompt takes the first 12 classification and 19 other tasks as its demos.
    assert len(seeds) - len(classification) >= 19


def test_mix_of_tasks_with_and_without_input(seeds: list[Task]) -> None:
    share = sum(_no_input(t) for t in seeds) / len(seeds)
    assert 0.30 <= share <= 0.70, f"{share:.2f} of the tasks have no input"


def test_classification_outputs_are_short_labels(seeds: list[Task]) -> None:
    for task in seeds:
        if task["is_classification"]:
            for inst in task["instances"]:
                assert len(inst["output"].split()) <= 4, (task["name"], inst["output"])


def test_instructions_pass_the_generation_filters(seeds: list[Task]) -> None:
    for task in seeds:
        text = task["instruction"]
        assert not BLACKLIST_RE.search(text), (task["name"], BLACKLIST_RE.search(text))
        assert not text.startswith("Write a program"), task["name"]
        assert text[0].isascii() and text[0].isalpha(), task["name"]
        assert 4 <= len(text.split()) <= 60, task["name"]


def test_blacklist_pattern_is_whole_word_and_case_insensitive() -> None:
    assert BLACKLIST_RE.search("Describe this Image in detail.")
    assert BLACKLIST_RE.search("How do I go to the airport?")
    assert not BLACKLIST_RE.search("Plan a trip to the mapleleaf drawer profile.")


def test_max_pair_rouge_finds_near_duplicates() -> None:
    score, _, _ = _max_pair_rouge(
        [
            "Suggest three names for a new bakery.",
            "Explain how tides work.",
            "Suggest three good names for a new bakery.",
        ]
    )
    assert score >= ROUGE_LIMIT


def test_fast_rouge_matches_the_scorer(seeds: list[Task]) -> None:
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    sample = [t["instruction"] for t in seeds[:8]]
    for a, b in itertools.combinations(sample, 2):
        expected = scorer.score(a, b)["rougeL"].fmeasure
        got = rouge_scorer._score_lcs(tokenize.tokenize(a, None), tokenize.tokenize(b, None))
        assert got.fmeasure == pytest.approx(expected)


def test_no_two_instructions_are_rouge_near_duplicates(seeds: list[Task]) -> None:
    score, first, second = _max_pair_rouge([t["instruction"] for t in seeds])
    assert score < ROUGE_LIMIT, f"ROUGE-L {score:.3f}: {first!r} vs {second!r}"


def test_paper_seed_file_has_the_same_schema() -> None:
    if not PAPER_SEEDS.is_file():
        pytest.skip(f"paper's seed file not found at {PAPER_SEEDS}")
    for number, task in enumerate(_load(PAPER_SEEDS)):
        assert set(task) == TASK_KEYS, f"line {number + 1}"
        for inst in task["instances"]:
            assert set(inst) == INSTANCE_KEYS, f"line {number + 1}"
