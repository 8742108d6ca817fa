"""New instructions written the way chat models write a list (`asyncgen sim --chat-format`).

Asked to continue "8. …\\n9.", a chat model seldom continues the list as given: it opens with
a preamble, restates "9.", puts a bold title in front of each item, writes "Task 9:" lines,
bullets or headings, leaves blank lines between items and closes with a remark. Each style
here renders the same items (`instructions.list_items`) one such way; `random` draws a style
per answer from the prompt's random stream, so an answer stays a function of (seed, prompt).
The text is written here, independently of the parser that must read it (selfinstruct.chatlist).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

PLAIN = "plain"  # the paper's numbered continuation, as a completion model writes it
RANDOM = "random"
STYLES: tuple[str, ...] = ("preamble", "titles", "task", "bullets", "headings", "spaced")
CHAT_FORMATS: tuple[str, ...] = (PLAIN, *STYLES, RANDOM)

PREAMBLES = (
    "Here are {k} more tasks:", "Sure! Here are some new tasks:",
    "Certainly! Below are {k} additional instructions:", "Of course, here you go:",
    "Here are a few more diverse tasks for the list:",
)  # fmt: skip
REMARKS = (
    "Let me know if you'd like more tasks!", "I hope these help!",
    "Feel free to ask for more examples.", "Happy writing!",
    "These tasks cover a range of different skills.",
)  # fmt: skip
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
_SMALL = frozenset({"a", "an", "the", "of", "to", "for", "and", "in", "on", "at", "by", "or"})

Render = Callable[[random.Random, Sequence[str], int], str]


def chat_list(
    rng: random.Random, items: Sequence[str], first: int, *, style: str, cut: bool
) -> str:
    """`items` (numbered from `first`) as a chat model writes them in `style` (or a random one).

    `cut`: the answer ends inside the last item (max_tokens), so no closing remark follows.
    """
    if style == RANDOM:
        style = rng.choice(STYLES)
    text = _RENDER[style](rng, items, first)
    if not cut and style != "task" and rng.random() < 0.6:
        text += "\n\n" + rng.choice(REMARKS)  # markdown: a remark apart from the list
    return text


def title(item: str) -> str:
    """A short name for the task, as chat models put in front of it: "Plan A Picnic Menu"."""
    words = _WORD.findall(item)[:4]
    return " ".join(w if w in _SMALL and i else w[:1].upper() + w[1:]
                    for i, w in enumerate(words)) or "Task"


def _preamble(rng: random.Random, items: Sequence[str]) -> str:
    return rng.choice(PREAMBLES).format(k=len(items))


def _numbered(items: Sequence[str], first: int, mark: str, gap: str) -> str:
    return gap.join(mark.format(n=n, t=title(item)) + item
                    for n, item in enumerate(items, start=first))


def _with_preamble(rng: random.Random, items: Sequence[str], first: int) -> str:
    return f"{_preamble(rng, items)}\n\n" + _numbered(items, first, "{n}. ", "\n")


def _titles(rng: random.Random, items: Sequence[str], first: int) -> str:
    mark = rng.choice(("{n}. **{t}**: ", "{n}. **{t}:** ", "**{n}. {t}**: "))
    head = f"{_preamble(rng, items)}\n\n" if rng.random() < 0.5 else ""
    return head + _numbered(items, first, mark, rng.choice(("\n", "\n\n")))


def _task(rng: random.Random, items: Sequence[str], first: int) -> str:
    mark = rng.choice(("Task {n}: ", "**Task {n}:** ", "Instruction {n}: "))
    return _numbered(items, first, mark, rng.choice(("\n", "\n\n")))


def _bullets(rng: random.Random, items: Sequence[str], first: int) -> str:
    bullet = rng.choice(("- ", "* ", "\u2022 "))
    mark = bullet + ("**{t}**: " if rng.random() < 0.3 else "")
    return f"{_preamble(rng, items)}\n" + "\n".join(
        mark.format(t=title(item)) + item for item in items)


def _headings(rng: random.Random, items: Sequence[str], first: int) -> str:
    mark = rng.choice(("### {n}. {t}\n", "### Task {n}\n", "## {n}. {t}\n\n"))
    return _numbered(items, first, mark, "\n\n")


def _spaced(rng: random.Random, items: Sequence[str], first: int) -> str:
    return _numbered(items, first, "{n}. ", "\n\n")


_RENDER: dict[str, Render] = {
    "preamble": _with_preamble, "titles": _titles, "task": _task, "bullets": _bullets,
    "headings": _headings, "spaced": _spaced,
}
