"""A whole run against a simulator that writes its lists as chat models do (issue 21): it
reaches its target, commits only clean instructions, and `report` shows the formats found."""

from __future__ import annotations

import re
from pathlib import Path

import orjson

from asyncgen.cli import main
from asyncgen.commands import report, report_text
from asyncgen.sim.books import read_books
from tests.conftest import report_json, sim_process

QUIET = ["--log-format", "none", "--progress-interval", "1"]
# list markup or a chat remark in a committed instruction (issue 21's "Done when")
MARKUP = re.compile(
    r"\*\*|^\s*[-*\u2022#]|(?i:\b(?:task|instruction)\s*\d+\s*[:.)])|(?<=[.?!:]\s)\d{1,2}[.)]\s+[A-Z]|"
    r"(?i:here are|let me know|i hope)"
)


def test_a_run_on_random_chat_formats_commits_clean_instructions(
    tmp_path: Path, no_keys: None
) -> None:
    out, books = tmp_path / "out", tmp_path / "books.jsonl"
    with sim_process("--chat-format", "random", "--seed", "7", "--books", str(books)) as url:
        code = main(["run", "--out", str(out), "--provider", "sim", "--base-url", url,
                     "--target-instructions", "60", *QUIET])
    assert code == 0
    tasks = [orjson.loads(line) for line in (out / "tasks.jsonl").read_bytes().splitlines()]
    assert len(tasks) >= 60
    dirty = [t["instruction"] for t in tasks if MARKUP.search(t["instruction"])]
    assert dirty == []
    report = report_json(out)
    assert report["runs"]["list"][-1]["reason"] == "target"
    formats = report["answer_formats"]
    generation = report["requests"]["by_stage"]["instructions"]["requests"]
    assert formats["answers"] == generation > 0
    kinds = {name.split("+")[0] for name in formats["by_format"]}
    assert len(kinds) >= 3, formats  # the model's habits are visible
    assert "numbered+titles" in formats["by_format"] or "bullets+titles" in formats["by_format"]
    assert 0 < formats["chat_share"] < 1
    assert {line["endpoint"] for line in read_books(books)} == {"chat"}


def test_the_markup_check_catches_what_it_must() -> None:
    """The check above is only as good as this pattern: each of these must be caught."""
    for bad in ["**Budget Plan**: Develop a plan.", "- Write a poem about rain.",
                "Write a poem. Task 10: Find the median.", "Write a poem. 10. Find the median.",
                "Here are some new tasks: write a poem.", "Write a poem. Let me know!",
                "Write a poem. I hope this helps.", "### Write a poem"]:
        assert MARKUP.search(bad), bad
    for good in ["Write a poem about the sea in 10 lines.", "Convert 3.5 km into miles.",
                 "Explain step 2 of the recipe to a child.",
                 "Ann has 169 apples and gives away 31. How many are left?"]:
        assert not MARKUP.search(good), good


def test_report_folds_the_formats_of_generation_answers() -> None:
    parsed = [{"event": "candidate.parsed", "count": 7, "kept": 5, "format": f, "chat": c}
              for f, c in [("numbered", False), ("numbered", True), ("task", False),
                           ("bullets+titles", True)]]
    older = {"event": "candidate.parsed", "count": 3, "kept": 3}  # before formats were recorded
    built = report.build_report([], [*parsed, older])
    assert built["funnel"]["candidates_parsed"] == 31
    assert built["answer_formats"] == {
        "answers": 4,
        "by_format": {"numbered": {"answers": 2, "share": 0.5},
                      "task": {"answers": 1, "share": 0.25},
                      "bullets+titles": {"answers": 1, "share": 0.25}},
        "with_chat_remarks": 2, "chat_share": 0.5,
    }
    text = report_text.render_text(built)
    assert re.search(r"^  numbered +2 +50\.0%$", text, re.M)
    assert "with a chat preamble or closing remark: 2 (50.0%)" in text
    assert "list format" not in report_text.render_text(report.build_report([], [older]))
