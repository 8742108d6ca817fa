"""The paper's four prompt templates (Self-Instruct, Tables 5-8), built from the seed pool.

The instruction prompt follows the released code's numbered form ("1. ...", stop at "16.").
The classification and instance prompts are few-shot; their demonstrations come from the seed
tasks (fixed choice, so the prefix is identical across requests and providers can cache it).
Every template starts with a fixed header line: the simulator recognises a prompt by it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

INSTRUCTION_HEADER = "Come up with a series of tasks:"
CLASSIFY_HEADER = (
    "Can the following task be regarded as a classification task with finite output labels?"
)
INPUT_FIRST_HEADER = (
    "Come up with examples for the following tasks. Try to generate multiple examples when "
    "possible. If the task doesn't require additional input, you can generate the output directly."
)
OUTPUT_FIRST_HEADER = (
    "Given the classification task definition and the class labels, generate an input that "
    "corresponds to each of the class labels. If the task doesn't require input, just generate "
    "possible class labels."
)
CLASSIFY_QUESTION = "Is it classification?"

CLASSIFY_POSITIVE_SHOTS = 12
CLASSIFY_NEGATIVE_SHOTS = 19
INSTANCE_SHOTS = 4

_WS = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Demo:
    """A seed task as shown in a few-shot prompt."""

    instruction: str
    is_classification: bool
    instances: tuple[tuple[str, str], ...]  # (input, output)


def one_line(text: str) -> str:
    """Collapse whitespace, as the released code does before putting text in a prompt."""
    return _WS.sub(" ", text).strip()


CANDIDATE_MARK = "\n\nTask: "
"""Where a few-shot prompt's fixed part (header and demonstrations) ends: the candidate follows."""


def split_fixed(prompt: str) -> tuple[str, str]:
    """A few-shot prompt as (fixed prefix, candidate part), the prefix byte-identical across
    requests of a stage; ("", prompt) when the prompt has no fixed few-shot part."""
    cut = prompt.rfind(CANDIDATE_MARK)
    if cut < 0:
        return "", prompt
    cut += 2  # the blank line stays with the prefix
    return prompt[:cut], prompt[cut:]


def instruction_prompt(instructions: Sequence[str]) -> str:
    """Table 5: numbered in-context instructions, the model continues with the next number."""
    lines = [INSTRUCTION_HEADER]
    for number, text in enumerate(instructions, start=1):
        lines.append(f"{number}. {one_line(text).rstrip(':')}")
    lines.append(f"{len(instructions) + 1}.")
    return "\n".join(lines)


def classify_prompt(demos: Sequence[Demo], instruction: str) -> str:
    """Table 6: Yes/No demonstrations, then the candidate."""
    parts = [CLASSIFY_HEADER, ""]
    for demo in demos:
        answer = "Yes" if demo.is_classification else "No"
        parts.append(f"Task: {one_line(demo.instruction)}\n{CLASSIFY_QUESTION} {answer}\n")
    parts.append(f"Task: {one_line(instruction)}\n{CLASSIFY_QUESTION}")
    return "\n".join(parts)


def _input_first_demo(demo: Demo) -> str:
    lines = [f"Task: {one_line(demo.instruction)}"]
    if all(not inp.strip() for inp, _ in demo.instances):
        lines.append(f"Output: {demo.instances[0][1].strip()}")
        return "\n".join(lines)
    for number, (inp, out) in enumerate(demo.instances, start=1):
        lines.append(f"Example {number}")
        lines.append(f"Input: {inp.strip()}")
        lines.append(f"Output: {out.strip()}")
    return "\n".join(lines)


def _output_first_demo(demo: Demo) -> str:
    lines = [f"Task: {one_line(demo.instruction)}"]
    for inp, out in demo.instances:
        lines.append(f"Class label: {out.strip()}")
        if inp.strip():
            lines.append(f"Input: {inp.strip()}")
    return "\n".join(lines)


def input_first_prompt(demos: Sequence[Demo], instruction: str) -> str:
    """Table 7: examples for a non-classification task, input before output."""
    body = "\n\n".join(_input_first_demo(d) for d in demos)
    return f"{INPUT_FIRST_HEADER}\n\n{body}\n\nTask: {one_line(instruction)}\n"


def output_first_prompt(demos: Sequence[Demo], instruction: str) -> str:
    """Table 8: class label first, then an input that fits it."""
    body = "\n\n".join(_output_first_demo(d) for d in demos)
    return f"{OUTPUT_FIRST_HEADER}\n\n{body}\n\nTask: {one_line(instruction)}\n"


def select_classify_demos(seeds: Sequence[Demo]) -> list[Demo]:
    """12 classification and 19 other seed tasks, interleaved, in seed order."""
    positive = [d for d in seeds if d.is_classification][:CLASSIFY_POSITIVE_SHOTS]
    negative = [d for d in seeds if not d.is_classification][:CLASSIFY_NEGATIVE_SHOTS]
    merged: list[Demo] = []
    while positive or negative:
        if negative:
            merged.append(negative.pop(0))
        if positive:
            merged.append(positive.pop(0))
    return merged


def select_instance_demos(seeds: Sequence[Demo], *, classification: bool) -> list[Demo]:
    """A few seed tasks of the same kind, short ones first, to keep the prefix small."""
    same = [d for d in seeds if d.is_classification == classification and d.instances]
    same.sort(key=lambda d: sum(len(i) + len(o) for i, o in d.instances))
    return same[:INSTANCE_SHOTS]
