"""Classification against the simulator's own books: a classification prompt is bought once.

The classify request is deterministic (temperature 0; the simulator answers the same prompt
with the same text), so asking an unparseable answer again buys the same answer twice."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson

from asyncgen.cli import main
from asyncgen.sim.books import read_books
from tests.conftest import sim_process


def test_an_unparseable_label_is_not_bought_twice(tmp_path: Path) -> None:
    books, out = tmp_path / "books.jsonl", tmp_path / "out"
    with sim_process("--books", str(books), "--seed", "3") as url:
        assert main(["run", "--out", str(out), "--provider", "sim", "--base-url", url,
                     "--seed", "5", "--target-instructions", "40",
                     "--log-format", "none"]) == 0
    events = [orjson.loads(line) for line in (out / "events.jsonl").read_bytes().splitlines()]
    unparseable = [e for e in events if e["event"] == "classify.unparseable"]
    assert unparseable  # this seed's run meets the simulator's rare unparseable label
    bought = Counter(line["prompt_digest"] for line in read_books(books)
                     if line["kind"] == "classify")
    assert bought and max(bought.values()) == 1, [n for n in bought.values() if n > 1]
    assert all(len(e["answers"]) == 1 for e in unparseable)
