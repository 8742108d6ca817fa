"""Model text → instructions, classification answers and instances (Self-Instruct §2.2).

Three pure parsers, one per prompt kind in `asyncgen.selfinstruct.prompts`:

- `parse_instructions`: the continuation of the numbered list (Table 5) → new instructions,
  post-processed as `post_process_gpt3_response` in the released bootstrap_instructions.py.
- `parse_classification`: the answer to "Is it classification?" (Table 6) → True/False/None.
- `parse_instances`: input-first (Table 7) or output-first (Table 8) examples → instances,
  parsed and filtered as `parse_input_output`, `filter_invalid_instances` and
  `filter_duplicate_instances` in the released prepare_for_finetuning.py.

Where the behaviour differs from the released code, the comment says "Deviation:" and why.
Most deviations tolerate chat models, which restate numbers, add a preamble or bold the labels.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from asyncgen.selfinstruct.chatlist import is_chat_preamble, split_list

__all__ = [
    "DEFAULT_BLACKLIST",
    "REJECT_REASONS",
    "Instance",
    "InstructionAnswer",
    "Rejected",
    "parse_classification",
    "parse_instances",
    "parse_instruction_answer",
    "parse_instructions",
]

# Tasks a text-only model cannot do (released bootstrap_instructions.py), matched as whole words.
DEFAULT_BLACKLIST: tuple[str, ...] = (
    "image", "images", "graph", "graphs", "picture", "pictures",
    "file", "files", "map", "maps", "draw", "plot", "go to",
)  # fmt: skip
REJECT_REASONS: tuple[str, ...] = (
    "length", "keyword", "bad_start", "program", "truncated", "empty",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Rejected:
    """A generated instruction that post-processing dropped; `reason` is one of REJECT_REASONS."""

    reason: str
    text: str


@dataclass(frozen=True, slots=True)
class Instance:
    """One input/output pair of a task; `input` is "" when the task needs none."""

    input: str
    output: str


def _unix_newlines(text: str) -> str:
    """CRLF and lone CR become LF, so every pattern below sees one kind of line break."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --- Step 1: instructions (Table 5) ----------------------------------------------------------

_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class InstructionAnswer:
    """One generation answer parsed: the kept and rejected instructions, the list format the
    model wrote (`chatlist.LIST_FORMATS`, "+titles" when items had bold titles), and
    whether it held a chat preamble, closing remark or heading that was dropped."""

    kept: list[str]
    rejected: list[Rejected]
    format: str
    chat: bool


def parse_instructions(
    text: str,
    *,
    finish_reason: str | None,
    first_number: int = 9,
    blacklist: Sequence[str] = DEFAULT_BLACKLIST,
    min_words: int = 3,
    max_words: int = 150,
) -> tuple[list[str], list[Rejected]]:
    """Split the continuation of "`first_number`." into instructions and post-process them.

    Returns the kept instructions (whitespace-normalised, no exact duplicates, in order) and
    the rejected ones with their reason. A response without any item gives one "empty".
    `parse_instruction_answer` also says which list format the model wrote.
    """
    answer = parse_instruction_answer(
        text, finish_reason=finish_reason, first_number=first_number, blacklist=blacklist,
        min_words=min_words, max_words=max_words,
    )  # fmt: skip
    return answer.kept, answer.rejected


def parse_instruction_answer(
    text: str,
    *,
    finish_reason: str | None,
    first_number: int = 9,
    blacklist: Sequence[str] = DEFAULT_BLACKLIST,
    min_words: int = 3,
    max_words: int = 150,
) -> InstructionAnswer:
    """`parse_instructions`, with the list format found.

    Deviations from the released code, all for chat models (the released code met only
    GPT-3 davinci continuing the list as given; `asyncgen.selfinstruct.chatlist` has the rules):
    - items are also "9)", "9:", "**9.**", "Task 9:", "Instruction 9:", "- ", "* ", "• " (when
      no item is numbered) and markdown headings; a label glued after a sentence starts an item;
    - an item is its first paragraph: a blank line, a section heading or a chat remark
      ("Let me know…", "I hope…") ends it (the released code kept everything up to the next
      number; its stop sequence "\\n\\n" meant a completion never held a blank line);
    - a bold or heading title before an item's text is dropped when the text reads as a
      sentence of its own ("**Create a Budget Plan**: Develop a monthly budget …" → "Develop a
      monthly budget …"), else kept as "title: text"; bold markup and a leading bullet are
      removed (the released code would reject "**…" as a bad start, or keep the markup);
    - text before the first item is a chat preamble, dropped, when the first item restates
      `first_number` or the text reads as one ("Sure! Here are more tasks:"); else it is the
      first item, as in the released code.
    The paper's rules then apply to each item as they did: length, blacklist, "Write a
    program", bad start, and the last item dropped when the answer was cut (`length`).
    """
    _check_instruction_args(blacklist, first_number, min_words, max_words)
    listed = split_list(_unix_newlines(text))
    items = [item for item in listed.items if item]
    chat = listed.chat
    # A chat model may open with a preamble, or restate "9." itself after one: then the first
    # number is `first_number` (a "9." further down is another matter, an item's own line).
    if listed.lead:
        if listed.first != first_number and not is_chat_preamble(listed.lead):
            items.insert(0, listed.lead)
        else:
            chat = True
    if not items:
        return InstructionAnswer([], [Rejected("empty", _one_line(text))], listed.format, chat)
    # Deviation: the released code drops the whole response when truncated; we (like Stanford
    # Alpaca) drop only the last item, the only one that can be cut short.
    truncated = items.pop() if finish_reason == "length" else None
    keyword = _blacklist_pattern(tuple(blacklist))
    kept: list[str] = []
    rejected: list[Rejected] = []
    for item in items:
        reason = _instruction_problem(item, keyword, min_words, max_words)
        if reason is not None:
            rejected.append(Rejected(reason, item))
        elif item not in kept:
            kept.append(item)
    if truncated is not None:
        rejected.append(Rejected("truncated", truncated))
    return InstructionAnswer(kept, rejected, listed.format, chat)


def _check_instruction_args(
    blacklist: Sequence[str], first_number: int, min_words: int, max_words: int
) -> None:
    """Fail fast on settings that would silently filter everything or nothing."""
    if isinstance(blacklist, str):
        raise TypeError(f"blacklist must be a sequence of words, not the string {blacklist!r}")
    if not 0 <= min_words < max_words:
        raise ValueError(f"need 0 <= min_words < max_words, got {min_words} and {max_words}")
    if first_number < 1:
        raise ValueError(f"first_number must be >= 1, got {first_number}")


def _one_line(text: str) -> str:
    """Collapse every run of whitespace to one space (released: re.sub(r"\\s+", " ", ...))."""
    return _WHITESPACE.sub(" ", text).strip()


@lru_cache(maxsize=16)
def _blacklist_pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    """One case-insensitive whole-word pattern for all blacklisted words and phrases."""
    alternatives = [r"\s+".join(map(re.escape, word.split())) for word in words if word.strip()]
    if not alternatives:
        return None
    # (?<!\w)/(?!\w) rather than \b, so entries that end in punctuation ("c++") work too.
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.I)


def _instruction_problem(
    item: str, keyword: re.Pattern[str] | None, min_words: int, max_words: int
) -> str | None:
    """Why the released post-processing drops this instruction, in its order; None keeps it.

    Deviation: the released code applies `str.capitalize()` first, which lowercases everything
    after the first letter ("TCP" → "tcp"). We keep the text; "Write a program" is matched
    case-insensitively instead, which is what the capitalised comparison amounted to.
    """
    words = len(item.split())
    if words <= min_words or words > max_words:
        return "length"
    if keyword is not None and keyword.search(item):
        return "keyword"
    if item.casefold().startswith("write a program"):
        return "program"
    if item[0] in string.punctuation or not item[0].isascii():
        return "bad_start"
    return None


# --- Step 3: classification answer (Table 6) -------------------------------------------------

# The first word of the answer, after punctuation, markdown and an echo of the question.
_ANSWER = re.compile(r"\W*(?:is it classification\?\W*|answer\W*)?([a-z]+)", re.I)
_YES_OR_NO = re.compile(r"(?<!\w)(?:yes|no)(?!\w)", re.I)


def parse_classification(text: str) -> bool | None:
    """ "Yes" → True, "No" → False, anything else (or both) → None.

    Deviation: the released code accepts exactly "Yes"/"yes"/"YES" after strip() and reads
    everything else as No. We also take "Yes." or "No, it is not", and return None for an
    answer that is neither, so the caller can retry it instead of counting it as No.
    """
    match = _ANSWER.match(text)
    if match is None or match.group(1).lower() not in ("yes", "no"):
        return None
    if len({word.lower() for word in _YES_OR_NO.findall(text)}) > 1:
        return None  # "Yes or no?" answers nothing
    return match.group(1).lower() == "yes"


# --- Step 4: instances (Tables 7 and 8) ------------------------------------------------------

# "Example 1", "Example 2:", "### Example 3", or a bare "Example:" line, at a line start.
# Deviation: the released split on r"Example\s?\d*\.?" anywhere, which also cuts an output
# that says "as in Example 2" or "Example sentences"; a marker must start a line here.
# A field name, as a model writes it before an input: "Input:", "Sentence:", "Word 2:".
_FIELD = r"[A-Z][A-Za-z0-9'()/-]*(?: [A-Za-z0-9'()/-]+){0,2}[ \t]*(?:\d+[ \t]*)?:(?=\s|$)"
# Also "Example 2" inside a line when a field follows it: a one-line "Example 1 Input: ...
# Output: ... Example 2 Input: ..." is split as the released code split it.
_EXAMPLE = re.compile(
    r"^[ \t]*(?:#+[ \t]*)?Example(?:[ \t]?\d+[ \t]*[.:)]?|[ \t]*(?::[ \t]*)?$)"
    r"|(?<=[ \t])Example[ \t]?\d+[ \t]*[.:)]?(?=[ \t]+" + _FIELD + ")",
    re.M,
)
_OUTPUT = re.compile(r"Output\s*(?:\d+\s*)?:")
_INPUT = re.compile(r"Input\s*(?:\d+\s*)?:")
_INPUT_PREFIX = re.compile(r"\AInput\s*(?:\d+\s*)?:")
_INPUT_LINE = re.compile(r"^(?=[ \t]*Input\s*(?:\d+\s*)?:)", re.M)
# Deviation: the released code matches "Class label:" only; chat models write "Class Label:".
_CLASS_LABEL = re.compile(r"Class\s+[Ll]abel\s*:")
# A field glued to the label's line: "Class label: Positive Review: Loved it."
_GLUED_FIELD = re.compile(r"[ \t](?=" + _FIELD + ")")
# "**Input:**", "**Input**:", "__Output:__", "**Example 1**" → the plain label.
_BOLD_LABEL = re.compile(
    r"(\*\*|__)(Example[ \t]?\d*|Input|Output|Class\s+[Ll]abel)(\s*(?:\d+\s*)?:)?\1"
)


def parse_instances(
    text: str, *, classification: bool, finish_reason: str | None, max_instances: int = 5
) -> tuple[list[Instance], str | None]:
    """Parse and filter the generated instances of one task.

    Returns the instances and None, or [] and why: "conflicting_outputs" when one non-empty
    input has two different outputs, else "no_instances" when none survives the filters.
    """
    if max_instances < 1:
        raise ValueError(f"max_instances must be >= 1, got {max_instances}")
    text = _BOLD_LABEL.sub(r"\2\3", _unix_newlines(text))
    parsed = _output_first(text) if classification else _input_first(text)
    if finish_reason == "length":
        parsed = parsed[:-1]  # the last one may be cut short; dropped before any filter
    return _filter_instances(parsed, max_instances)


def _input_first(text: str) -> list[Instance]:
    """Table 7: "Example N" blocks, else bare "Input:"/"Output:" pairs, else one "Output:"."""
    if _EXAMPLE.search(text):
        chunks = _EXAMPLE.split(text)
    else:
        # Deviation: the released code takes one pair here; a model that drops the
        # "Example N" lines but repeats "Input:" lines gets every pair.
        chunks = _INPUT_LINE.split(text)
    # Deviation: before the first block is a chat preamble ("Sure! Here are two examples:")
    # unless it holds an output; the released code made it an instance with that output.
    if not _OUTPUT.search(chunks[0]):
        chunks = chunks[1:]
    return [_input_output(chunk) for chunk in chunks if chunk.strip()]


def _input_output(chunk: str) -> Instance:
    """The released `parse_input_output`: input before "Output:", output after it."""
    parts = _OUTPUT.split(chunk, maxsplit=2)
    if len(parts) > 1:
        input_text, output = parts[0].strip(), parts[1].strip()
    else:
        input_text, output = "", chunk.strip()
    output = _INPUT.split(output, maxsplit=1)[0].strip()  # a second pair glued on: keep one
    input_text = _INPUT_PREFIX.sub("", input_text, count=1).strip()
    return Instance(input=input_text, output=output)


def _output_first(text: str) -> list[Instance]:
    """Table 8: each "Class label:" line is an output; the lines after it, its input.

    Like the released code, any field name other than "Input:" ("Sentence:", "Review:") stays
    part of the input. Text before the first label is a preamble.
    """
    instances = []
    for chunk in _CLASS_LABEL.split(text)[1:]:
        label, _, rest = chunk.strip().partition("\n")
        glued = _GLUED_FIELD.search(label)
        if glued is not None:  # Deviation: "Class label: Positive Review: ..." on one line
            label, rest = label[: glued.start()], label[glued.end() :] + "\n" + rest
        input_text = _INPUT_PREFIX.sub("", rest.strip(), count=1).strip()
        instances.append(Instance(input=input_text, output=label.strip()))
    return instances


def _filter_instances(
    parsed: Sequence[Instance], max_instances: int
) -> tuple[list[Instance], str | None]:
    """Invalid ones out, the set out on a conflict, duplicates out, at most `max_instances`.

    Deviation: the released code dedupes through a set (losing order) and later samples 5 at
    random; we keep the first occurrences in order and the first `max_instances`, so the
    result is a pure function of the text.
    """
    valid = [instance for instance in parsed if _is_valid(instance)]
    if _has_conflicting_outputs(valid):
        return [], "conflicting_outputs"
    unique = list(dict.fromkeys(valid))[:max_instances]
    return (unique, None) if unique else ([], "no_instances")


def _is_valid(instance: Instance) -> bool:
    """The released `filter_invalid_instances`: an output, not a copy, no dangling colon."""
    return (
        instance.output != ""
        and instance.output != instance.input
        and not instance.input.endswith(":")
        and not instance.output.endswith(":")
    )


def _has_conflicting_outputs(instances: Sequence[Instance]) -> bool:
    """True when one non-empty input has two different outputs (the model is guessing)."""
    first_output: dict[str, str] = {}
    for instance in instances:
        if instance.input and first_output.setdefault(instance.input, instance.output) != (
            instance.output
        ):
            return True
    return False
