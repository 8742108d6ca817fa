"""Estimated similarity fields (`--fields sample`, PoolScores.estimate): what is exact stays
exact, the mean is within its stated error, and every line says the fields are estimated."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest

from asyncgen.cli import main
from asyncgen.commands import run
from asyncgen.novelty.neighbours import PoolScores
from asyncgen.novelty.pool import Task
from asyncgen.rundir import fields, layout
from asyncgen.rundir.tasks import load_tasks
from tests.novelty.test_neighbours import random_text, reference
from tests.workers.test_pipeline import QUIET

pytestmark = pytest.mark.usefixtures("no_keys")


def _pool(sample: int) -> tuple[PoolScores, list[str], int]:
    rng = random.Random(5)
    texts = list(dict.fromkeys(random_text(rng) + f" w{rng.randrange(400)}"
                               for _ in range(3000)))
    seeds = 12
    scores = PoolScores(texts[:seeds], sample=sample)
    for text in texts[seeds:]:
        scores.add(text)
    return scores, texts, seeds


def test_estimated_fields_keep_the_exact_parts_exact() -> None:
    scores, pool, seeds = _pool(sample=400)
    exact = PoolScores(pool[:seeds])
    for text in pool[seeds:]:
        exact.add(text)
    within = 0
    for candidate in ("write a short poem about the sea", "sort this list of words",
                      "find all red words in the given text", "the a of"):
        got = scores.neighbours(scores.query(candidate))
        want = exact.neighbours(exact.query(candidate))
        truth = dict(zip(pool, reference(candidate, pool), strict=True))
        assert got.sample == 400 and got.stderr > 0 and want.sample == 0
        assert got.most_similar_seed == want.most_similar_seed  # every seed scored
        assert all(truth[text] == score for text, score in got.most_similar.items())
        assert len(got.most_similar) == 10
        assert max(got.most_similar.values()) <= max(want.most_similar.values())
        error = abs(got.avg_similarity_score - want.avg_similarity_score)
        assert error < 6 * got.stderr
        within += error < 2 * got.stderr
        assert scores.neighbours(scores.query(candidate)) == got  # the same draw
    assert within >= 3


def test_a_long_candidate_is_estimated_the_same_way() -> None:
    """Over 64 tokens (rapidfuzz, not the kernel): the same parts exact, the same draw."""
    scores, pool, seeds = _pool(sample=400)
    exact = PoolScores(pool[:seeds])
    for text in pool[seeds:]:
        exact.add(text)
    candidate = " ".join(["sort this list of words and write a short poem about the sea"] * 7)
    assert len(scores.query(candidate).seq) > 64
    got = scores.neighbours(scores.query(candidate))
    want = exact.neighbours(exact.query(candidate))
    truth = dict(zip(pool, reference(candidate, pool), strict=True))
    assert got.sample == 400 and got.most_similar_seed == want.most_similar_seed
    assert all(truth[text] == score for text, score in got.most_similar.items())
    assert abs(got.avg_similarity_score - want.avg_similarity_score) < 6 * got.stderr


def test_a_pool_no_bigger_than_the_sample_is_scored_exactly() -> None:
    scores, pool, seeds = _pool(sample=0)
    exact = scores.neighbours(scores.query("write a short poem"))
    scores.sample = len(pool) - seeds  # as many generated as the sample: no estimate
    assert scores.neighbours(scores.query("write a short poem")) == exact
    assert exact.sample == 0 and exact.stderr == 0.0


def test_estimated_fields_are_marked_in_task_and_fields_lines(tmp_path: Path) -> None:
    scores, _, _ = _pool(sample=300)
    estimated = scores.neighbours(scores.query("write a short poem about the sea"))
    task = Task(id="task-000001", instruction="write a short poem about the sea",
                is_classification=False, instances=(), scored=False)
    inline = task.with_neighbours(estimated).to_json()
    assert inline["fields"] == "sample" and inline["fields_sample"] == 300
    assert inline["avg_similarity_stderr"] == estimated.stderr
    assert Task.from_json(inline).to_json() == inline
    exact = task.with_neighbours(PoolScores(["a b"]).neighbours(
        PoolScores(["a b"]).query("a"))).to_json()
    assert "fields" not in exact and "avg_similarity_stderr" not in exact  # unchanged
    out = tmp_path / "out"
    out.mkdir()
    (out / layout.TASKS_FILE).write_bytes(orjson.dumps(task.to_json()) + b"\n")
    definitions, body = fields.Names([], {}).refs(estimated)
    (out / layout.FIELDS_FILE).write_bytes(definitions + fields.compact_line(task.id, body))
    (joined,), missing = fields.join([task], out)
    assert missing == 0 and joined.to_json() == inline


def test_a_run_with_sampled_fields_marks_its_tasks(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """--fields sample: tasks admitted into a pool of more generated instructions than the
    sample carry estimated fields, marked; the earlier ones exact; report reads them all."""
    monkeypatch.setattr(run, "FIELDS_SAMPLE", 6)
    out = tmp_path / "out"
    assert main(["run", "--out", str(out), "--target-instructions", "30", "--fields", "sample",
                 *QUIET]) == 0
    tasks, notes = load_tasks(out)
    assert notes == [] and all(task.scored for task in tasks)
    lines = [task.to_json() for task in tasks]
    assert "fields" not in lines[0] and lines[0]["avg_similarity_score"] is not None
    marked = [line for line in lines if line.get("fields") == "sample"]
    assert marked and all(line["fields_sample"] == 6 for line in marked)
    assert main(["report", str(out)]) == 0
    assert main(["run", "--out", str(tmp_path / "bad"), "--fields", "guess", *QUIET]) == 2
    assert not (tmp_path / "bad").exists()  # bad input: nothing written
