"""`asyncgen export`: the three formats, seeded templates, atomic writes, bad input."""

from __future__ import annotations

import argparse
import random
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from asyncgen.cli import main
from asyncgen.commands import export
from asyncgen.errors import UsageError
from asyncgen.novelty.pool import Task
from tests.conftest import OUR_SEEDS

# Two tasks share an input text on purpose: each record must keep its own task's instruction.
TASKS: list[dict[str, Any]] = [
    {
        "id": "task-000001",
        "instruction": " Classify the sentiment. ",
        "is_classification": True,
        "instances": [
            {"input": "I loved it.", "output": "Positive"},
            {"input": "Same input", "output": "Negative "},
        ],
    },
    {
        "id": "task-000002",
        "instruction": "Write a haiku.",
        "is_classification": False,
        "instances": [{"input": "", "output": "Leaves fall"}],
    },
    {
        "id": "task-000003",
        "instruction": "Translate into French.",
        "is_classification": False,
        "instances": [
            {"input": "Same input", "output": "Même entrée"},
            {"input": " \n", "output": "Bonjour"},
        ],
    },
]
EXPECTED_ALPACA = [
    {"instruction": "Classify the sentiment.", "input": "I loved it.", "output": "Positive"},
    {"instruction": "Classify the sentiment.", "input": "Same input", "output": "Negative"},
    {"instruction": "Write a haiku.", "input": "", "output": "Leaves fall"},
    {"instruction": "Translate into French.", "input": "Same input", "output": "Même entrée"},
    {"instruction": "Translate into French.", "input": "", "output": "Bonjour"},
]


def many_tasks(n: int) -> list[dict[str, Any]]:
    """n tasks of 3 instances each, one of them without input."""
    return [
        {
            "id": f"task-{i:06d}",
            "instruction": f"Do thing {i}.",
            "is_classification": False,
            "instances": [
                {"input": f"in {i}.{j}" if j else "", "output": f"out {i}.{j}"} for j in range(3)
            ],
        }
        for i in range(n)
    ]


def write_dir(path: Path, tasks: list[dict[str, Any]]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "tasks.jsonl").write_bytes(b"".join(orjson.dumps(t) + b"\n" for t in tasks))
    return path


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return write_dir(tmp_path / "out", TASKS)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="asyncgen export")
    export.add_arguments(parser)
    return parser.parse_args(argv)


def run(argv: list[str]) -> None:
    assert export.main(parse(argv)) == 0


def jsonl_lines(data: bytes) -> list[dict[str, Any]]:
    assert data.endswith(b"\n")
    return [orjson.loads(line) for line in data.splitlines()]


def test_alpaca_to_file(run_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "alpaca.json"
    run([str(run_dir), "--format", "alpaca", "--output", str(target)])
    data = target.read_bytes()
    assert orjson.loads(data) == EXPECTED_ALPACA
    assert data.startswith(b"[\n  {") and data.endswith(b"}\n]\n")
    assert data.count(b"\n") == len(EXPECTED_ALPACA) + 2  # "[", one record per line, "]"


def test_alpaca_to_stdout(run_dir: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    run([str(run_dir), "--format", "alpaca"])
    assert orjson.loads(capsysbinary.readouterr().out) == EXPECTED_ALPACA


def test_alpaca_of_no_tasks_is_an_empty_array(tmp_path: Path) -> None:
    write_dir(tmp_path, [])
    run([str(tmp_path), "--format", "alpaca", "-o", str(tmp_path / "a.json")])
    assert (tmp_path / "a.json").read_bytes() == b"[]\n"


def test_openai_chat(run_dir: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    run([str(run_dir), "--format", "openai-chat"])
    records = jsonl_lines(capsysbinary.readouterr().out)
    assert records[0] == {
        "messages": [
            {"role": "user", "content": "Classify the sentiment.\n\nI loved it."},
            {"role": "assistant", "content": "Positive"},
        ]
    }
    assert records[2]["messages"][0] == {"role": "user", "content": "Write a haiku."}
    assert records[4]["messages"][0]["content"] == "Translate into French."  # blank input
    assert [r["messages"][1]["content"] for r in records] == [e["output"] for e in EXPECTED_ALPACA]


def test_records_do_not_mix_tasks() -> None:
    tasks = [Task.from_json(t) for t in TASKS]
    records = list(export.export(tasks, "alpaca"))
    pairs = [
        (t.instruction.strip(), i.input.strip(), i.output.strip())
        for t in tasks
        for i in t.instances
    ]
    assert [(r["instruction"], r["input"], r["output"]) for r in records] == pairs
    same_input = [r for r in records if r["input"] == "Same input"]
    assert [r["instruction"] for r in same_input] == [
        "Classify the sentiment.",
        "Translate into French.",
    ]


def _match_template(record: dict[str, str], source: dict[str, str]) -> tuple[str, str]:
    """The (prompt, prefix) template that produced `record` from `source`."""
    templates = export.TEMPLATES_WITH_INPUT if source["input"] else export.TEMPLATES_WITHOUT_INPUT
    found = [
        (p, c)
        for p, c in templates
        if p.format(instruction=source["instruction"], input=source["input"]) == record["prompt"]
    ]
    assert len(found) == 1, record
    return found[0]


def test_prompt_completion_uses_the_papers_templates(tmp_path: Path) -> None:
    source = write_dir(tmp_path / "many", many_tasks(40))
    target = tmp_path / "pc.jsonl"
    run([str(source), "--format", "prompt-completion", "--seed", "7", "--no-augment", "-o",
         str(target)])
    records = jsonl_lines(target.read_bytes())
    tasks = [Task.from_json(t) for t in many_tasks(40)]
    sources = [
        {"instruction": t.instruction, "input": i.input, "output": i.output}
        for t in tasks
        for i in t.instances
    ]
    assert len(records) == len(sources) == 120
    by_output = {src["output"] + "<|endoftext|>": src for src in sources}
    assert len(by_output) == len(sources)
    used = set()
    for record in records:  # shuffled: each found by its output
        src = by_output[record["completion"].lstrip(" ")]
        assert set(record) == {"prompt", "completion"}
        prompt, prefix = _match_template(record, src)
        used.add(prompt)
        assert record["completion"] == prefix + src["output"] + "<|endoftext|>"
        assert prefix == (" " if prompt.endswith("Output:") else "")
    # 80 instances with input over 7 templates, 40 without over 6: every template shows up
    assert used == {p for p, _ in export.TEMPLATES_WITH_INPUT + export.TEMPLATES_WITHOUT_INPUT}


def test_end_marker_can_be_changed_or_dropped() -> None:
    rng = random.Random(0)
    for marker in ["", " END"]:
        record = export.encode_prompt_completion("Say hi.", "", "hi", rng, end_marker=marker)
        assert record["completion"].endswith("hi" + marker)


def _export_bytes(directory: Path, target: Path, *extra: str) -> bytes:
    run([str(directory), "--format", "prompt-completion", "-o", str(target), *extra])
    return target.read_bytes()


def test_same_seed_is_byte_identical_and_seeds_differ(tmp_path: Path) -> None:
    source = write_dir(tmp_path / "many", many_tasks(30))
    first = _export_bytes(source, tmp_path / "a.jsonl", "--seed", "1")
    again = _export_bytes(source, tmp_path / "b.jsonl", "--seed", "1")
    other = _export_bytes(source, tmp_path / "c.jsonl", "--seed", "2")
    default = _export_bytes(source, tmp_path / "d.jsonl")
    zero = _export_bytes(source, tmp_path / "e.jsonl", "--seed", "0")
    assert first == again
    assert first != other
    assert default == zero  # no --seed means seed 0: still reproducible


def test_missing_dir_names_the_path_and_writes_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    target = tmp_path / "a.json"
    with pytest.raises(UsageError, match=re.escape(f"{missing}: no such directory")):
        run([str(missing), "--format", "alpaca", "-o", str(target)])
    assert not target.exists()


def test_dir_without_tasks_jsonl(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no tasks.jsonl"):
        run([str(tmp_path), "--format", "openai-chat"])


def test_corrupt_tasks_leave_output_untouched(run_dir: Path, tmp_path: Path) -> None:
    with (run_dir / "tasks.jsonl").open("ab") as f:
        f.write(b"garbage\n" + orjson.dumps(TASKS[0]) + b"\n")
    target = tmp_path / "a.json"
    target.write_bytes(b"old")
    with pytest.raises(UsageError, match=r"tasks\.jsonl, line 4: corrupt line"):
        run([str(run_dir), "--format", "alpaca", "-o", str(target)])
    assert target.read_bytes() == b"old"


def test_torn_last_line_is_skipped(
    run_dir: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    with (run_dir / "tasks.jsonl").open("ab") as f:
        f.write(b'{"id": "task-000004", "instr')
    run([str(run_dir), "--format", "alpaca"])
    captured = capsysbinary.readouterr()
    assert orjson.loads(captured.out) == EXPECTED_ALPACA
    assert b"torn last line" in captured.err


def test_output_into_missing_directory(run_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "a.json"
    with pytest.raises(UsageError, match=re.escape(f"directory {target.parent} does not exist")):
        run([str(run_dir), "--format", "alpaca", "--output", str(target)])
    assert not (tmp_path / "no").exists()


def test_output_must_not_overwrite_the_run(run_dir: Path) -> None:
    with pytest.raises(UsageError, match="would overwrite the run's own tasks.jsonl"):
        run([str(run_dir), "--format", "alpaca", "-o", str(run_dir / "tasks.jsonl")])
    assert orjson.loads((run_dir / "tasks.jsonl").read_bytes().splitlines()[0]) == TASKS[0]


def test_output_that_is_a_directory(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is a directory"):
        run([str(run_dir), "--format", "alpaca", "-o", str(tmp_path)])


def test_unknown_format_is_rejected() -> None:
    with pytest.raises(SystemExit):  # argparse choices
        parse(["d", "--format", "csv"])
    with pytest.raises(UsageError, match="unknown export format"):
        list(export.export([], "csv"))  # type: ignore[arg-type]


# --- the released prepare_for_finetuning steps ------------------------------------------------

PAPER_SEEDS = Path(__file__).resolve().parents[3] / "shared" / "reference" / "seed_tasks.jsonl"


def test_augmentation_strips_one_field_name_half_the_time() -> None:
    rng = random.Random(0)
    results = [export.augment_input("Sentence: I am here.\n\nAnd here.", rng)
               for _ in range(400)]
    assert set(results) == {"Sentence: I am here.\n\nAnd here.", "I am here.\nAnd here."}
    assert 150 < results.count("I am here.\nAnd here.") < 250
    two_fields = {export.augment_input("Claim: x\nEvidence: y", rng) for _ in range(50)}
    assert two_fields == {"Claim: x\nEvidence: y"}  # several field names stay


def test_include_seeds_dedupes_shuffles_and_is_reproducible(tmp_path: Path) -> None:
    """The done-when line: --include-seeds --seed 5 twice gives identical files, >= 90 % of
    the seed instructions, no duplicate pair, not in tasks.jsonl order."""
    seeds = PAPER_SEEDS if PAPER_SEEDS.exists() else OUR_SEEDS
    tasks = many_tasks(30)
    tasks.append(dict(tasks[0], id="task-dup"))  # a repeated task: its records are left out
    source = write_dir(tmp_path / "run", tasks)
    extra = ("--include-seeds", "--seeds", str(seeds), "--seed", "5")
    first = _export_bytes(source, tmp_path / "a.jsonl", *extra)
    assert first == _export_bytes(source, tmp_path / "b.jsonl", *extra)
    records = jsonl_lines(first)
    pairs = [(r["prompt"], r["completion"]) for r in records]
    assert len(set(pairs)) == len(pairs)
    seed_instructions = {orjson.loads(line)["instruction"].strip()
                         for line in seeds.read_bytes().splitlines() if line.strip()}
    present = {i for i in seed_instructions if any(i in prompt for prompt, _ in pairs)}
    assert len(present) >= 0.9 * len(seed_instructions)
    ordered = [(r["prompt"], r["completion"]) for r in jsonl_lines(_export_bytes(
        source, tmp_path / "c.jsonl", "--seed", "5", "--no-augment"))]
    generated = [p for p in pairs if p in set(ordered)]
    assert generated != [p for p in ordered if p in set(generated)]  # shuffled
    assert len(ordered) == 90  # 30 tasks x 3 instances; the repeated task adds nothing


def test_missing_seed_file_is_one_line_exit_2(run_dir: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "x.jsonl"
    code = main(["export", str(run_dir), "--format", "alpaca", "--include-seeds", "--seeds",
                 str(tmp_path / "none.jsonl"), "-o", str(target)])
    assert code == 2 and not target.exists()
    assert "--seeds: cannot read" in capsys.readouterr().err
