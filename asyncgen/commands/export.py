"""`asyncgen export DIR --format ...`: turn tasks.jsonl into what people fine-tune on.

One record per instance, in tasks.jsonl order (the seed tasks' first with `--include-seeds`);
every record is built from one task and one of its own instances (nothing is paired across
tasks). Fields are stripped of surrounding whitespace; a blank input counts as no input; a
repeated (instruction, input, output) is left out.

Formats:
- `alpaca`: a JSON array of {"instruction", "input", "output"} (one record per line).
- `openai-chat`: JSONL {"messages": [user: instruction + "\\n\\n" + input, assistant: output]}.
- `prompt-completion`: JSONL {"prompt", "completion"}, the paper's §2.3 encoding: each instance
  gets a template drawn at random (`--seed`, default 0: same seed, byte-identical file) from the
  released code's 7 templates with input / 6 without. Templates whose prompt ends in "Output:"
  take " " + output, the others (ending in a newline) take the output as is, as the released code
  did; the completion ends with `--end-marker` (default the paper's "<|endoftext|>", "" for none).
  As the released prepare_for_finetuning.py does, half of the inputs (drawn from the same
  `--seed`) lose their field name when they have one ("Sentence: ..." -> "..."; several field
  names stay) and have blank lines collapsed (`--no-augment` turns that off); duplicate
  (prompt, completion) pairs are removed and the records are shuffled by `--seed`.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal, get_args

import orjson

from asyncgen.config import DEFAULT_SEEDS
from asyncgen.errors import UsageError
from asyncgen.jsonl import atomic_write
from asyncgen.novelty.pool import Task, load_seeds
from asyncgen.rundir.layout import EVENTS_FILE, TASKS_FILE
from asyncgen.rundir.tasks import load_tasks, output_dir

Format = Literal["alpaca", "openai-chat", "prompt-completion"]
FORMATS: tuple[Format, ...] = get_args(Format)
END_OF_TEXT = "<|endoftext|>"

# (prompt, completion prefix); the prompt is formatted with instruction= and input=
TEMPLATES_WITH_INPUT: tuple[tuple[str, str], ...] = (
    ("{instruction}\nInput: {input}\nOutput:", " "),
    ("{instruction}\n\nInput: {input}\n\nOutput:", " "),
    ("Task: {instruction}\nInput: {input}\nOutput:", " "),
    ("{instruction}\n\n{input}\n\nOutput:", " "),
    ("{instruction}\n\n{input}\n\n", ""),
    ("{instruction}\n{input}\n\n", ""),
    ("Task: {instruction}\n\n{input}\n\n", ""),
)
TEMPLATES_WITHOUT_INPUT: tuple[tuple[str, str], ...] = (
    ("{instruction} Output:", " "),
    ("{instruction}\nOutput:", " "),
    ("{instruction}\n\nOutput:", " "),
    ("{instruction}\n", ""),
    ("{instruction}\n\n", ""),
    ("Task: {instruction}\n\n", ""),
)


def encode_prompt_completion(
    instruction: str, input_: str, output: str, rng: random.Random, *, end_marker: str
) -> dict[str, str]:
    """One instance in the paper's §2.3 encoding, with a template drawn from `rng`."""
    templates = TEMPLATES_WITH_INPUT if input_ else TEMPLATES_WITHOUT_INPUT
    prompt, prefix = rng.choice(templates)
    return {
        "prompt": prompt.format(instruction=instruction, input=input_),
        "completion": prefix + output + end_marker,
    }


_FIELD_NAME = re.compile(r"(\w+):")  # released: re.findall(r"(\w+):", inst_input)


def augment_input(input_: str, rng: random.Random) -> str:
    """The released input augmentation: half the time, drop the field name of an input that
    names one field only ("Sentence: x" -> "x") and collapse blank lines."""
    if rng.random() >= 0.5:
        return input_
    if len(set(_FIELD_NAME.findall(input_))) == 1:
        input_ = input_.split(":", 1)[1].strip()
    return input_.replace("\n\n", "\n")


def export(
    tasks: Iterable[Task], fmt: Format, *, seed: int = 0, end_marker: str = END_OF_TEXT,
    augment: bool = True,
) -> Iterator[dict[str, Any]]:
    """The records of `fmt`, one per instance, task by task, without repeats; prompt-completion
    records are augmented and shuffled (from `seed`), as the released code prepared them."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    rng = random.Random(seed)
    seen: set[tuple[str, str, str]] = set()
    pairs: set[bytes] = set()
    encoded: list[dict[str, Any]] = []
    for task in tasks:
        instruction = task.instruction.strip()
        for instance in task.instances:
            input_, output = instance.input.strip(), instance.output.strip()
            if (instruction, input_, output) in seen:
                continue  # the same instance again (a repeated task, a seed exported twice)
            seen.add((instruction, input_, output))
            record: dict[str, Any]
            if fmt == "alpaca":
                record = {"instruction": instruction, "input": input_, "output": output}
            elif fmt == "openai-chat":
                user = f"{instruction}\n\n{input_}" if input_ else instruction
                record = {"messages": [{"role": "user", "content": user},
                                       {"role": "assistant", "content": output}]}
            else:
                shown = augment_input(input_, rng) if augment else input_
                record = encode_prompt_completion(instruction, shown, output, rng,
                                                  end_marker=end_marker)
            if fmt != "prompt-completion":
                yield record
                continue
            pair = orjson.dumps(record)  # released: no (prompt, completion) pair twice
            if pair not in pairs:
                pairs.add(pair)
                encoded.append(record)
    rng.shuffle(encoded)
    yield from encoded


def seed_tasks(path: Path) -> list[Task]:
    """The seed tasks as tasks, for `--include-seeds` (the released --include_seed_tasks)."""
    return [Task(id=seed.id, instruction=seed.instruction,
                 is_classification=seed.is_classification, instances=seed.instances)
            for seed in load_seeds(path, flag="--seeds")]


def serialize(records: Iterable[dict[str, Any]], fmt: Format) -> Iterator[bytes]:
    """Bytes of the output file: a JSON array (alpaca) or JSON Lines, chunk by chunk."""
    if fmt != "alpaca":
        for record in records:
            yield orjson.dumps(record) + b"\n"
        return
    separator = b"[\n  "
    for record in records:
        yield separator + orjson.dumps(record)
        separator = b",\n  "
    yield b"[]\n" if separator == b"[\n  " else b"\n]\n"


def check_output(output: Path, directory: Path) -> None:
    """Refuse an --output that cannot be written, or that would overwrite the run's own files."""
    if not output.parent.is_dir():
        raise UsageError(f"--output {output}: directory {output.parent} does not exist")
    if output.is_dir():
        raise UsageError(f"--output {output}: is a directory")
    sources = {(directory / name).resolve() for name in (TASKS_FILE, EVENTS_FILE)}
    if output.resolve() in sources:
        raise UsageError(f"--output {output}: would overwrite the run's own {output.name}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `asyncgen export`."""
    parser.add_argument("dir", metavar="DIR", type=Path, help="output directory of a run")
    parser.add_argument("--format", required=True, choices=FORMATS, help="output format")
    parser.add_argument("--output", "-o", metavar="FILE", type=Path,
                        help="write here (atomically) instead of stdout")
    parser.add_argument("--seed", type=int, default=0,
                        help="template choice, augmentation and order for prompt-completion "
                        "(default: %(default)s)")
    parser.add_argument("--include-seeds", action="store_true",
                        help="also export the seed tasks' instances (first, before shuffling)")
    parser.add_argument("--seeds", metavar="PATH", type=Path, default=DEFAULT_SEEDS,
                        help="seed file for --include-seeds (default: the bundled "
                        "data/seed_tasks.jsonl)")
    parser.add_argument("--no-augment", dest="augment", action="store_false",
                        help="prompt-completion: keep every input's field names and blank "
                        "lines (default: strip them from half the inputs, as released)")
    parser.add_argument("--end-marker", default=END_OF_TEXT,
                        help="appended to each prompt-completion completion, '' for none "
                        "(default: %(default)s)")


def _stdout_write(chunks: Iterable[bytes]) -> None:
    sys.stdout.flush()
    out = sys.stdout.buffer
    for chunk in chunks:
        out.write(chunk)
    out.flush()


def main(args: argparse.Namespace) -> int:
    """Export DIR's tasks in the chosen format; nothing is written if the input is bad."""
    output_dir(args.dir)
    if args.output is not None:
        check_output(args.output, args.dir)
    tasks, notes = load_tasks(args.dir)  # read and validated in full before writing anything
    for note in notes:
        print(f"asyncgen export: warning: {note}", file=sys.stderr)
    if args.include_seeds:
        tasks = seed_tasks(args.seeds) + list(tasks)
    records = export(tasks, args.format, seed=args.seed, end_marker=args.end_marker,
                     augment=args.augment)
    counted = _Counted(records)
    chunks = serialize(counted, args.format)
    if args.output is None:
        _stdout_write(chunks)
        return 0
    try:
        size = atomic_write(args.output, chunks)
    except OSError as exc:
        raise UsageError(f"--output {args.output}: cannot write ({exc.strerror})") from exc
    print(f"asyncgen export: wrote {counted.count:,} {args.format} records ({size:,} bytes) "
          f"to {args.output}", file=sys.stderr)
    return 0


class _Counted:
    """The records as they are written, counted (duplicates are left out on the way)."""

    __slots__ = ("_records", "count")

    def __init__(self, records: Iterable[dict[str, Any]]) -> None:
        self._records = records
        self.count = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for record in self._records:
            self.count += 1
            yield record
