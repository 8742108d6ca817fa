"""The items of a list as a chat model writes it, and the format it was written in.

Asked to continue "8. <instruction>\\n9.", a completion model writes " <text>\\n10. <text>…";
a chat model often writes its own list instead: a preamble ("Here are 7 more tasks:"), items
as "9. **Title**: text", "Task 9: text", "- text" or "### 9. Title" over a paragraph, blank
lines between them, and a closing remark ("Let me know if you need more!"). `split_list` turns
any of these into one line of text per item, with no list markup left in it, and says which
format it found (`LIST_FORMATS`), so a run can report what its model does.

The rules, in the order they apply:
- Item markers start a line: a number ("9.", "9)", "9:", "**9.**"), a label ("Task 9:",
  "Instruction 9:", "**Task 9:**"; also inside a line after a sentence, where a model glued
  two items), a bullet ("-", "*", "•") only when the answer has no numbered marker (under
  numbered items, bullets are the item's own details), and markdown headings: a heading holds
  an item marker, or, in an answer with no numbers and no bullets, every heading with text
  under it starts one.
- An item is its first paragraph: it ends at a blank line, a heading without a marker (a
  section title), or a line that is a chat remark ("Let me know…", "I hope…"). When the
  marker's line holds nothing but a title, the paragraph after it (blank lines skipped) is the
  text.
- A title is bold text before a colon or dash ("**Create a Budget Plan**: Develop …"), a whole
  bold line, or a heading's text, with the text after it on its line or below. The item is the
  text after the title when that reads as a sentence of its own (it starts with a capital
  letter): chat models put a short name of the task in front of the instruction they would have
  written anyway, and the name in front would make every instruction start "Name: …", which is
  neither the paper's format nor what a user would type. When the text does not start a
  sentence ('**Translate into French**: "Good night"'), the title carries the instruction: the
  item is "title: text". A title with no text is the item. A plain "Budget Plan: Develop …"
  is not taken for a title: it cannot be told from an instruction such as "Classify: …".
- What precedes the first marker (the lead) is read as an item would be; the caller decides
  whether it is the first item or a preamble (`is_chat_preamble`). Headings before it are
  dropped.
- Bold markup is removed from an item (a pair of `**` around words, or `**` at either end;
  "2**10" and "**kwargs" stay), and bullets at the start of each of its lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["LIST_FORMATS", "ListAnswer", "is_chat_preamble", "split_list"]

# the marker kinds, each but "headings" optionally with "+titles" (bold titles found); "empty":
# no text at all
LIST_FORMATS: tuple[str, ...] = ("numbered", "task", "bullets", "headings", "unnumbered", "empty")

_BOLD = r"(?:\*\*|__)"
_BULLET_MARK = r"[-*\u2022]"
# "9.", "9)", "9:", "**9.**", "9 ." (not "3.5", not "10:30": a space or the line end follows)
_NUMBER = rf"{_BOLD}?(?P<n>\d{{1,3}})[ \t]?[.):]{_BOLD}?(?=\s|$)"
# "Task 9:", "**Task 9:**", "**Task 9**:", "Instruction #9 -", "Task 9" (a heading's)
_LABEL = (rf"{_BOLD}?(?i:task|instruction)[ \t]*#?(?P<t>\d{{1,3}})(?:[ \t]*{_BOLD})?"
          rf"(?:[ \t]*[.):\-\u2013\u2014]{_BOLD}?(?=\s|$)|(?=[ \t]*$))")
_MARKER = re.compile(rf"(?:{_BULLET_MARK}[ \t]+)?(?:{_LABEL}|{_NUMBER})")
_BULLET = re.compile(rf"{_BULLET_MARK}[ \t]+(?=\S)")
_HEADING = re.compile(r"#{1,6}(?:[ \t]+|$)")
# a label glued after a sentence: "… its moods. Task 10: Given …" → a line of its own
_GLUED_LABEL = re.compile(rf"(?<=[.?!])[ \t]+(?={_BOLD}?(?i:task|instruction)[ \t]*#?\d{{1,3}}"
                          rf"[ \t]*{_BOLD}?[.):])")
# "**Title**: text", "**Title:** text", "__Title__ - text", "**Title**" alone
_TITLE = re.compile(rf"(?P<b>{_BOLD})(?P<title>[^*_\n]+?)(?P<c1>:)?[ \t]*(?P=b)[ \t]*"
                    r"(?P<c2>:|[-\u2013\u2014](?=\s))?[ \t]*(?P<rest>.*)")
_CHAT_REMARK = re.compile(
    r"(?:let me know|i hope|hope (?:this|these|that)|feel free|if you (?:need|want|would|'d)|"
    r"would you like|these (?:tasks|instructions|prompts) (?:should|can|will|cover|are)|"
    r"(?:happy|glad) to help|enjoy|good luck)\b", re.I)
_WHITESPACE = re.compile(r"\s+")
_BOLD_PAIR = re.compile(r"(?<![\w*])\*\*(?=[^\s*])((?:[^*]|\*(?!\*))+?)(?<=[^\s*])\*\*(?![\w*])")
_LEADING_MARKUP = re.compile(r"(?:\*\*+|[-*\u2022][ \t]+|\s)*")  # bold, bullets, spaces

# A chat model's opening line ("Sure! Here are more tasks:"), never an instruction: an
# interjection alone, or an opener that ends in ":" or "!" and speaks of the list itself, or a
# one-sentence "Here are …"/"Below are …" about the list. An instruction that starts the same
# way stays ("Okay, now rewrite the paragraph in passive voice."; "Here is a list of numbers.
# Sort them in ascending order:").
_INTERJECTION = re.compile(r"(?:sure|certainly|of course|absolutely|okay|ok|alright|great)\W*$",
                           re.I)
_OPENER = re.compile(r"(?:sure|certainly|of course|absolutely|okay|ok|alright|great|here|below|"
                     r"these|i)\b.*[:!]$", re.I)
_HERE_ARE = re.compile(r"(?:here(?: are|'s| is)|below (?:are|is))\b[^.?!]*[.?!]?$", re.I)
_ABOUT_THE_LIST = re.compile(r"\b(?:tasks?|instructions?|prompts?|ones|continu\w*|you go|"
                             r"they are)\b|\b(?:more|new|additional|others)\W*$", re.I)


@dataclass(frozen=True, slots=True)
class ListAnswer:
    """What `split_list` found: the lead, the items (one line each, in order), the format, and
    whether a chat remark or a section heading was dropped; `first` is the first item's number
    (None when the items are not numbered)."""

    lead: str
    items: list[str]
    format: str
    chat: bool
    first: int | None


@dataclass(slots=True)
class _Line:
    text: str  # the line without its heading or item marker
    marker: str | None  # "numbered", "task", "bullets" or None
    number: int | None
    heading: bool


def split_list(text: str) -> ListAnswer:
    """The items of a list answer (LF line breaks expected), see the module docstring."""
    lines = [_read_line(line) for line in _GLUED_LABEL.sub("\n", text).split("\n")]
    kinds = {line.marker for line in lines if line.marker in ("numbered", "task")}
    if kinds:
        kind = "task" if "task" in kinds else "numbered"
        starts = [i for i, line in enumerate(lines) if line.marker in kinds]
    else:
        kind = "bullets"
        starts = [i for i, line in enumerate(lines) if line.marker == "bullets"]
    if not starts:
        kind, starts = "headings", _titled_headings(lines)
        if not starts:
            kind = "unnumbered"
    if starts and all(lines[i].heading for i in starts):
        kind = "headings"  # "### 9. Title" over its text: the headings are the format
    for line in lines:  # bullets under numbered items are details of the item
        if line.marker == "bullets" and kinds:
            line.marker = None
    titled = chat = False
    items: list[str] = []
    for start, end in zip(starts, [*starts[1:], len(lines)], strict=False):
        item, has_title, remark = _item(lines[start:end])
        titled |= has_title
        chat |= remark
        items.append(item)
    top, end = 0, starts[0] if starts else len(lines)
    while top < end and (lines[top].heading or not lines[top].text):
        chat |= lines[top].heading  # a heading over the list: "## New tasks"
        top += 1
    lead, has_title, remark = _item(lines[top:end]) if top < end else ("", False, False)
    if not lead and not any(items):
        kind = "empty"
    first = lines[starts[0]].number if starts else None
    titled = (titled or has_title) and kind != "headings"  # a heading is a title
    return ListAnswer(lead, items, kind + ("+titles" if titled else ""), chat or remark, first)


def _titled_headings(lines: list[_Line]) -> list[int]:
    """The headings that have text under them (before the next heading)."""
    starts = []
    text_below = False  # the next line with text, below this one, is not a heading
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i]
        if line.heading:
            if text_below:
                starts.append(i)
            text_below = False
        elif line.text:
            text_below = True
    return starts[::-1]


def _read_line(raw: str) -> _Line:
    """A line's heading mark and item marker, taken off its text."""
    text = raw.strip()
    heading = _HEADING.match(text)
    if heading is not None:
        text = text[heading.end() :]
    marker = _MARKER.match(text)
    if marker is not None:
        kind = "task" if marker.group("t") is not None else "numbered"
        number = int(marker.group("t") or marker.group("n"))
        rest = text[marker.end() :].strip()
        bold = _BULLET.sub("", marker.group(), count=1)[:2]
        if bold in ("**", "__") and not marker.group().endswith(bold):
            rest = bold + rest  # "**9. Title**: text": the bold is the title's
        return _Line(rest, kind, number, heading is not None)
    bullet = _BULLET.match(text) if heading is None else None
    if bullet is not None:
        return _Line(text[bullet.end() :].strip(), "bullets", None, False)
    return _Line(text, None, None, heading is not None)


def _item(lines: list[_Line]) -> tuple[str, bool, bool]:
    """One item's text from its lines (the first holds its marker); whether it had a title,
    whether a chat remark ended it."""
    first = lines[0]
    title, rest = first.text, ""
    match = _TITLE.fullmatch(first.text)
    is_title = first.heading
    if match is not None and (match["c1"] or match["c2"] or not match["rest"]):
        title, rest, is_title = match["title"], match["rest"], True
    if not is_title:
        text, remark = _paragraph(lines)
        return text, False, remark
    body = [_Line(rest, None, None, False), *lines[1:]] if rest else lines[1:]
    text, remark = _paragraph(body)
    title = _clean(_clean(title).rstrip(":"))
    if not text:
        return title, False, remark
    if text[0].isascii() and text[0].isupper() or not title:
        return text, bool(title), remark
    return f"{title}: {text}", True, remark


def _paragraph(lines: list[_Line]) -> tuple[str, bool]:
    """The first paragraph (leading blank lines skipped) on one line, and whether any text
    after it was dropped (a chat remark, or anything after a blank line or a heading)."""
    top = 0
    while top < len(lines) and not lines[top].text and not lines[top].heading:
        top += 1
    parts: list[str] = []
    for i in range(top, len(lines)):
        line = lines[i]
        if not line.text or line.heading or (
                parts and line.text[0].isupper() and _CHAT_REMARK.match(line.text)):
            return _clean(" ".join(parts)), any(rest.text for rest in lines[i:])
        parts.append(line.text)
    return _clean(" ".join(parts)), False


def _clean(text: str) -> str:
    """No bold markup, no bullet at the start, whitespace collapsed to single spaces.

    Bold is a pair of "**" around words, or "**" at either end: "2**10" and "**kwargs" stay.
    """
    text = _BOLD_PAIR.sub(r"\1", _WHITESPACE.sub(" ", text))
    leading = _LEADING_MARKUP.match(text)  # never None: it matches ""
    start = leading.end() if leading is not None else 0
    end = len(text)
    while end > start:
        if text[end - 1] == " ":
            end -= 1
        elif text.endswith("**", start, end):
            end -= 2
        else:
            break
    return text[start:end]


def is_chat_preamble(lead: str) -> bool:
    """ "Sure!", "Here are 7 more:", "Certainly! Below are some new tasks:"."""
    return bool(_INTERJECTION.match(lead)
                or ((_OPENER.match(lead) or _HERE_ARE.match(lead))
                    and _ABOUT_THE_LIST.search(lead)))
