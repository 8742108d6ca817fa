"""The few-shot demonstrations of the classification and instance prompts (`--demos`).

`data/demonstrations.jsonl` (written for this project, in the shape of the paper's Tables 6-8)
holds one demonstration per line, in prompt order, each for one of the three prompts:

    {"prompt": "classify", "instruction": ..., "is_classification": true}
    {"prompt": "input_first", "instruction": ..., "examples": [{"input": ..., "output": ...}]}
    {"prompt": "output_first", "instruction": ..., "examples": [{"label": ..., "input": ...}]}

An input is shown as written, so a non-empty one must start with its field name
("Paragraph: ...", "Code:\\n..."). `load_demos` checks all of it; a defect is a UsageError
naming the line and the field, as for the seeds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from asyncgen.errors import UsageError
from asyncgen.selfinstruct.prompts import Demo

__all__ = ["DEFAULT_DEMOS", "Demonstrations", "load_demos"]

DEFAULT_DEMOS = Path(__file__).resolve().parents[2] / "data" / "demonstrations.jsonl"
KINDS = ("classify", "input_first", "output_first")
# A field name at the start of an input: "Paragraph:", "Word 1:", "Recipe (serves 4):".
FIELD_NAME = re.compile(r"[A-Z][A-Za-z0-9 '()/-]{0,40}:")
_KEYS = {
    "classify": {"prompt", "instruction", "is_classification"},
    "input_first": {"prompt", "instruction", "examples"},
    "output_first": {"prompt", "instruction", "examples"},
}


@dataclass(frozen=True, slots=True)
class Demonstrations:
    """The demonstrations of each prompt, in file order (the order they are shown in)."""

    classify: tuple[Demo, ...]
    input_first: tuple[Demo, ...]
    output_first: tuple[Demo, ...]


def load_demos(path: Path = DEFAULT_DEMOS) -> Demonstrations:
    """Read and check a demonstrations file; every prompt needs at least one demonstration."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"--demos: cannot read {str(path)!r}: {exc.strerror}") from None
    found: dict[str, list[Demo]] = {kind: [] for kind in KINDS}
    for number, line in enumerate(data.splitlines(), start=1):
        if line.strip():
            kind, demo = _parse(line, f"{path}:{number}")
            found[kind].append(demo)
    missing = [kind for kind in KINDS if not found[kind]]
    if missing:
        raise UsageError(f"{path}: no {' or '.join(missing)} demonstrations")
    return Demonstrations(*(tuple(found[kind]) for kind in KINDS))


def _parse(line: bytes, where: str) -> tuple[str, Demo]:
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise UsageError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise UsageError(f"{where}: expected a JSON object")
    kind = obj.get("prompt")
    if kind not in KINDS:
        raise UsageError(f"{where}: field 'prompt' must be one of {', '.join(KINDS)}")
    unknown = sorted(set(obj) - _KEYS[kind])
    if unknown:
        raise UsageError(f"{where}: unknown field {unknown[0]!r} for a {kind} demonstration")
    instruction = _text(obj, "instruction", where)
    if kind == "classify":
        answer = obj.get("is_classification")
        if not isinstance(answer, bool):
            raise UsageError(f"{where}: field 'is_classification' must be true or false")
        return kind, Demo(instruction, answer, ())
    examples = obj.get("examples")
    if not isinstance(examples, list) or not examples:
        raise UsageError(f"{where}: field 'examples' must be a non-empty list")
    pairs = tuple(_example(kind, raw, len(examples), f"{where} examples[{n}]")
                  for n, raw in enumerate(examples))
    return kind, Demo(instruction, kind == "output_first", pairs)


def _example(kind: str, raw: Any, count: int, where: str) -> tuple[str, str]:
    """One (input, output) pair; for output-first the output is the class label."""
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: must be an object")
    answer_key = "output" if kind == "input_first" else "label"
    unknown = sorted(set(raw) - {"input", answer_key})
    if unknown:
        raise UsageError(f"{where}: unknown field {unknown[0]!r}")
    answer = _text(raw, answer_key, where)
    if answer_key == "label" and "\n" in answer:
        raise UsageError(f"{where}: field 'label' must be one line")
    input_text = raw.get("input")
    if not isinstance(input_text, str):
        raise UsageError(f"{where}: field 'input' must be a string")
    if input_text.strip() and not FIELD_NAME.match(input_text.strip()):
        raise UsageError(f"{where}: field 'input' must start with its field name, "
                         "as in 'Sentence: ...'")
    if kind == "input_first" and not input_text.strip() and count > 1:
        raise UsageError(f"{where}: an example without input must be the task's only one")
    return input_text.strip(), answer


def _text(obj: dict[str, Any], name: str, where: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{where}: field {name!r} must be a non-empty string")
    return value.strip()
