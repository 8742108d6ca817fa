"""The paper's four prompt templates (Self-Instruct, Tables 5-8).

The instruction prompt follows the released code's numbered form ("1. ...", stop at "16.").
The classification and instance prompts are few-shot; their demonstrations come from
`data/demonstrations.jsonl` (`selfinstruct.demos`). Each of these prompts is a fixed prefix (header
and demonstrations, byte-identical across requests, so a provider's prefix cache can serve it)
followed by the candidate instruction. Every template starts with a fixed header line: the
simulator recognises a prompt by it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

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

_WS = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Demo:
    """A task as shown in a few-shot prompt.

    `instances` are (input, output) pairs, the input as shown (field names included); for an
    output-first demonstration the output is the class label; a classification demonstration
    has none.
    """

    instruction: str
    is_classification: bool
    instances: tuple[tuple[str, str], ...]


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
    """Table 6: Yes/No demonstrations (the fixed prefix), then the candidate."""
    return f"{classify_prefix(tuple(demos))}Task: {one_line(instruction)}\n{CLASSIFY_QUESTION}"


def input_first_prompt(demos: Sequence[Demo], instruction: str) -> str:
    """Table 7: examples for a non-classification task, input before output."""
    return f"{input_first_prefix(tuple(demos))}Task: {one_line(instruction)}\n"


def output_first_prompt(demos: Sequence[Demo], instruction: str) -> str:
    """Table 8: class label first, then an input that fits it."""
    return f"{output_first_prefix(tuple(demos))}Task: {one_line(instruction)}\n"


# The fixed part of each prompt: built once per demonstration set, the same bytes on every
# request, so a provider's prefix cache can serve it; only the candidate follows it.


@lru_cache(maxsize=8)
def classify_prefix(demos: tuple[Demo, ...]) -> str:
    parts = [CLASSIFY_HEADER, ""]
    for demo in demos:
        answer = "Yes" if demo.is_classification else "No"
        parts.append(f"Task: {one_line(demo.instruction)}\n{CLASSIFY_QUESTION} {answer}\n")
    return "\n".join(parts) + "\n"


@lru_cache(maxsize=8)
def input_first_prefix(demos: tuple[Demo, ...]) -> str:
    body = "".join(f"{_input_first_demo(d)}\n\n" for d in demos)
    return f"{INPUT_FIRST_HEADER}\n\n{body}"


@lru_cache(maxsize=8)
def output_first_prefix(demos: tuple[Demo, ...]) -> str:
    body = "".join(f"{_output_first_demo(d)}\n\n" for d in demos)
    return f"{OUTPUT_FIRST_HEADER}\n\n{body}"


def _output_line(output: str) -> str:
    """ "Output: x", or "Output:" and the lines below it for a multi-line output."""
    output = output.strip()
    return f"Output:\n{output}" if "\n" in output else f"Output: {output}"


def _input_first_demo(demo: Demo) -> str:
    """The input is shown as written: it names its own fields ("Paragraph: ...")."""
    lines = [f"Task: {one_line(demo.instruction)}"]
    if all(not inp.strip() for inp, _ in demo.instances):
        lines.append(_output_line(demo.instances[0][1]))
        return "\n".join(lines)
    for number, (inp, out) in enumerate(demo.instances, start=1):
        lines.append(f"Example {number}")
        lines.append(inp.strip())
        lines.append(_output_line(out))
    return "\n".join(lines)


def _output_first_demo(demo: Demo) -> str:
    lines = [f"Task: {one_line(demo.instruction)}"]
    for inp, label in demo.instances:
        lines.append(f"Class label: {label.strip()}")
        if inp.strip():
            lines.append(inp.strip())
    return "\n".join(lines)
