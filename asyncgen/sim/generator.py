"""Prompt-aware, deterministic text: what the simulated model says to a prompt.

The prompt kind is read from its first line (the headers of `selfinstruct.prompts`). The answer
depends only on (seed, prompt): a `random.Random` seeded with a hash of both drives every
choice, so a retry, or the same prompt over chat or completions, gets the same text. Stop
sequences and max_tokens are applied afterwards (`finish`), like a real server does.
"""

from __future__ import annotations

import enum
import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from asyncgen.selfinstruct.prompts import (
    CLASSIFY_HEADER,
    INPUT_FIRST_HEADER,
    INSTRUCTION_HEADER,
    OUTPUT_FIRST_HEADER,
)
from asyncgen.sim import answers, chat, instructions

CHARS_PER_TOKEN = 4

# `stuck` mode: a provider that repeats itself — every generation answer is these
# two instructions, and every instance answer fails the filters (each output copies its input)
STUCK_INSTRUCTIONS = (
    "Describe the weather on a planet that circles two suns at once.",
    "Suggest a name for a bakery that only opens after midnight.",
)


class PromptKind(enum.Enum):
    """The four Self-Instruct prompts, and anything else."""

    INSTRUCTIONS = "instructions"
    CLASSIFY = "classify"
    INPUT_FIRST = "input_first"
    OUTPUT_FIRST = "output_first"
    OTHER = "other"


_HEADER_PREFIX = 50  # characters of a header that identify it (tolerates small rewordings)
_HEADERS: tuple[tuple[str, PromptKind], ...] = (
    (INSTRUCTION_HEADER[:_HEADER_PREFIX], PromptKind.INSTRUCTIONS),
    (CLASSIFY_HEADER[:_HEADER_PREFIX], PromptKind.CLASSIFY),
    (INPUT_FIRST_HEADER[:_HEADER_PREFIX], PromptKind.INPUT_FIRST),
    (OUTPUT_FIRST_HEADER[:_HEADER_PREFIX], PromptKind.OUTPUT_FIRST),
)


@dataclass(frozen=True, slots=True)
class Generated:
    """Model text and why it ended ("stop" or "length")."""

    text: str
    finish_reason: str


def count_tokens(text: str) -> int:
    """The simulator's tokenizer: one token per four characters, rounded up."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def prompt_kind(prompt: str) -> PromptKind:
    """Which prompt this is, by the start of its first line."""
    head = prompt.lstrip()
    for header, kind in _HEADERS:
        if head.startswith(header):
            return kind
    return PromptKind.OTHER


def candidate(prompt: str) -> str:
    """The task the prompt asks about: the line after the last 'Task:'."""
    return prompt.rpartition("Task:")[2].strip().partition("\n")[0].strip()


class Generator:
    """Answers prompts; same seed and prompt give the same answer."""

    __slots__ = ("_seed", "stuck", "chat_format")

    def __init__(self, seed: int, *, stuck: bool = False, chat_format: str = chat.PLAIN) -> None:
        if chat_format not in chat.CHAT_FORMATS:
            raise ValueError(f"chat_format must be one of {', '.join(chat.CHAT_FORMATS)}, "
                             f"got {chat_format!r}")
        self._seed = seed.to_bytes(16, "little", signed=True)
        self.stuck = stuck
        self.chat_format = chat_format  # how generation answers are written (asyncgen.sim.chat)

    def __repr__(self) -> str:
        return f"Generator(seed={int.from_bytes(self._seed, 'little', signed=True)})"

    def rng_for(self, prompt: str) -> random.Random:
        """The random stream of one prompt."""
        digest = hashlib.blake2b(prompt.encode(), digest_size=8, key=self._seed).digest()
        return random.Random(int.from_bytes(digest, "little"))

    def generate(self, prompt: str) -> Generated:
        """The model's natural answer, before stop sequences and max_tokens."""
        rng = self.rng_for(prompt)
        kind = prompt_kind(prompt)
        if self.stuck and kind is not PromptKind.CLASSIFY:
            return _stuck(kind, prompt)
        if kind is PromptKind.INSTRUCTIONS:
            examples, number, ends_with_number = instructions.parse_instruction_prompt(prompt)
            if self.chat_format == chat.PLAIN:
                text, reason = instructions.continue_list(rng, examples, number, ends_with_number)
            else:
                items, reason = instructions.list_items(rng, examples, number)
                text = chat.chat_list(rng, items, number, style=self.chat_format,
                                      cut=reason == "length")
        elif kind is PromptKind.CLASSIFY:
            text, reason = answers.classify_answer(rng, candidate(prompt)), "stop"
        elif kind is PromptKind.INPUT_FIRST:
            text, reason = answers.input_first(rng, candidate(prompt))
        elif kind is PromptKind.OUTPUT_FIRST:
            text, reason = answers.output_first(rng, candidate(prompt))
        else:
            text, reason = answers.generic(rng, prompt)
        return Generated(text, reason)


def _stuck(kind: PromptKind, prompt: str) -> Generated:
    """The stuck provider's answer: the same two instructions, or instances that all fail."""
    if kind is PromptKind.INSTRUCTIONS:
        _, number, ends_with_number = instructions.parse_instruction_prompt(prompt)
        first, second = STUCK_INSTRUCTIONS
        head = f" {first}" if ends_with_number else f"\n{number}. {first}"
        return Generated(f"{head}\n{number + 1}. {second}", "stop")
    task = candidate(prompt)
    if kind is PromptKind.OUTPUT_FIRST:
        return Generated(f"Class label: {task}\nInput: {task}\n", "stop")
    return Generated(f"Example 1\nInput: {task}\nOutput: {task}\n", "stop")


def finish(generated: Generated, *, stop: Sequence[str], max_tokens: int | None) -> Generated:
    """Apply stop sequences (cut before the first one) and max_tokens (cut, "length")."""
    text = generated.text
    cut = len(text)
    for sequence in stop:
        if sequence:
            index = text.find(sequence, 0, cut)
            if index != -1:
                cut = index
    limit = len(text) if max_tokens is None else max_tokens * CHARS_PER_TOKEN
    if min(cut, len(text)) > limit:
        return Generated(text[:limit], "length")
    if cut < len(text):
        return Generated(text[:cut], "stop")
    return generated
