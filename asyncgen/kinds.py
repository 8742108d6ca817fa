"""The kinds of option values: each parses a flag's text, checks a TOML value, says what it allows.

A bad value raises `Invalid` with what is wrong; the caller (`config`) adds where the value came
from and what is allowed, as one `UsageError` line.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class Invalid(ValueError):
    """What is wrong with one value; the caller adds where it came from and what is allowed."""


class Kind(Protocol):
    @property
    def metavar(self) -> str:
        """How --help names the value."""
        ...

    def allowed(self) -> str:
        """What values are allowed, for the error message and --help."""
        ...

    def parse(self, text: str) -> Any:
        """The value of a flag's text; raises Invalid."""
        ...

    def check(self, raw: object) -> Any:
        """The value of a TOML value (already typed by TOML); raises Invalid."""
        ...


def shown_number(value: float) -> str:
    """A bound as people write it: 0, 1, 0.7, 1e+09."""
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    return f"{value:g}"


def _shown(raw: object) -> str:
    """A user's value, quoted when it is text, cut when it is long."""
    text = repr(raw) if isinstance(raw, str) else str(raw).lower() if isinstance(raw, bool) \
        else str(raw)
    return text if len(text) <= 40 else text[:37] + "..."


def _string(raw: object) -> str:
    """A TOML value that must be a string, as it is."""
    if not isinstance(raw, str):
        raise Invalid(f"{_shown(raw)} is {_toml_type(raw)}, not a string")
    return raw


def _toml_type(raw: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(raw), type(raw).__name__)


@dataclass(frozen=True, slots=True)
class Int:
    """An integer in [lo, hi] (always within 64 bits)."""

    lo: int = INT64_MIN
    hi: int = INT64_MAX
    note: str = ""  # e.g. "0 = no limit"
    metavar: str = "N"

    def allowed(self) -> str:
        lo, hi = max(self.lo, INT64_MIN), min(self.hi, INT64_MAX)
        if (lo, hi) == (INT64_MIN, INT64_MAX):
            text = "a 64-bit integer"
        elif hi == INT64_MAX:
            text = f"an integer >= {lo}"
        else:
            text = f"an integer from {lo} to {hi}"
        return f"{text}; {self.note}" if self.note else text

    def parse(self, text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise Invalid(f"{_shown(text)} is not an integer") from None
        return self._ranged(value)

    def check(self, raw: object) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise Invalid(f"{_shown(raw)} is {_toml_type(raw)}, not an integer")
        return self._ranged(raw)

    def _ranged(self, value: int) -> int:
        if not max(self.lo, INT64_MIN) <= value <= min(self.hi, INT64_MAX):
            raise Invalid(f"{value} is out of range")
        return value


@dataclass(frozen=True, slots=True)
class Float:
    """A finite number in [lo, hi]; `open_lo` excludes lo (for "> 0")."""

    lo: float = -math.inf
    hi: float = math.inf
    open_lo: bool = False
    note: str = ""
    metavar: str = "X"

    def allowed(self) -> str:
        finite_hi = math.isfinite(self.hi)
        if not math.isfinite(self.lo):
            text = f"a number <= {shown_number(self.hi)}" if finite_hi else "a finite number"
        elif not finite_hi:
            text = f"a number {'>' if self.open_lo else '>='} {shown_number(self.lo)}"
        elif self.open_lo:
            text = f"a number > {shown_number(self.lo)} and <= {shown_number(self.hi)}"
        else:
            text = f"a number from {shown_number(self.lo)} to {shown_number(self.hi)}"
        return f"{text}; {self.note}" if self.note else text

    def parse(self, text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise Invalid(f"{_shown(text)} is not a number") from None
        return self._ranged(value, text.strip())

    def check(self, raw: object) -> float:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise Invalid(f"{_shown(raw)} is {_toml_type(raw)}, not a number")
        return self._ranged(float(raw), raw)

    def _ranged(self, value: float, raw: object) -> float:
        if not math.isfinite(value):
            raise Invalid(f"{raw} is not a finite number")
        below = value <= self.lo if self.open_lo else value < self.lo
        if below or value > self.hi:
            raise Invalid(f"{raw} is out of range")
        return value


@dataclass(frozen=True, slots=True)
class Choice:
    """One of a few words."""

    choices: tuple[str, ...]

    @property
    def metavar(self) -> str:
        return "{" + ",".join(self.choices) + "}"

    def allowed(self) -> str:
        return "one of " + ", ".join(self.choices)

    def parse(self, text: str) -> str:
        if text not in self.choices:
            raise Invalid(f"{_shown(text)} is not a choice")
        return text

    def check(self, raw: object) -> str:
        return self.parse(_string(raw))


@dataclass(frozen=True, slots=True)
class Text:
    """A non-empty string (a URL, a model name)."""

    metavar: str = "TEXT"

    def allowed(self) -> str:
        return "a non-empty string"

    def parse(self, text: str) -> str:
        if not text.strip():
            raise Invalid("is empty")
        if any(ord(c) < 32 for c in text):
            raise Invalid(f"{_shown(text)} has a control character")
        return text

    def check(self, raw: object) -> str:
        return self.parse(_string(raw))


@dataclass(frozen=True, slots=True)
class Words:
    """A list of non-empty strings: comma-separated on the command line, a list in TOML."""

    most: int = 10_000
    metavar: str = "WORDS"
    blank_ok: bool = False  # stop sequences: "\n\n" is one (only "" is dropped)

    def allowed(self) -> str:
        return f"comma-separated words, at most {self.most}" if self.most < 10_000 \
            else "comma-separated words (a list of strings in TOML)"

    def parse(self, text: str) -> tuple[str, ...]:
        return self._counted(tuple(w.strip() for w in text.split(",") if w.strip()))

    def check(self, raw: object) -> tuple[str, ...]:
        if isinstance(raw, str):
            return self.parse(raw)
        if not isinstance(raw, list) or not all(isinstance(w, str) for w in raw):
            raise Invalid(f"{_shown(raw)} is {_toml_type(raw)}, not a list of strings")
        return self._counted(tuple(w for w in raw if (w if self.blank_ok else w.strip())))

    def _counted(self, words: tuple[str, ...]) -> tuple[str, ...]:
        if len(words) > self.most:
            raise Invalid(f"{len(words)} items are too many")
        return words


@dataclass(frozen=True, slots=True)
class Flag:
    """On or off: `--name` / `--no-name` on the command line, true/false in TOML."""

    metavar: str = ""

    def allowed(self) -> str:
        return "true or false"

    def parse(self, text: str) -> bool:  # only reached through TOML-like text
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise Invalid(f"{_shown(text)} is not true or false")

    def check(self, raw: object) -> bool:
        if not isinstance(raw, bool):
            raise Invalid(f"{_shown(raw)} is {_toml_type(raw)}, not true or false")
        return raw


@dataclass(frozen=True, slots=True)
class InFile:
    """A file to read (checked when it is read, with its line numbers)."""

    metavar: str = "PATH"

    def allowed(self) -> str:
        return "a readable file"

    def parse(self, text: str) -> Path:
        if not text.strip():
            raise Invalid("is empty")
        return Path(text)

    def check(self, raw: object) -> Path:
        if not isinstance(raw, str):
            raise Invalid(f"{_shown(raw)} is {_toml_type(raw)}, not a path string")
        return self.parse(raw)


@dataclass(frozen=True, slots=True)
class OutDir:
    """A directory we will write into: it exists and is writable, or it can be created.

    `deep` allows creating missing parents (`--out out/demo`); without it the parent must exist.
    """

    deep: bool = True
    metavar: str = "DIR"

    def allowed(self) -> str:
        return "a writable directory, or one that can be created"

    def parse(self, text: str) -> Path:
        if not text.strip():
            raise Invalid("is empty")
        return Path(text)  # writable_dir checks it once every source is merged

    def check(self, raw: object) -> Path:
        if not isinstance(raw, str):
            raise Invalid(f"{_shown(raw)} is {_toml_type(raw)}, not a path string")
        return self.parse(raw)


def writable_dir(path: Path, *, deep: bool = True) -> None:
    """Raise Invalid unless `path` is a writable directory or can be made one; creates nothing."""
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise Invalid(f"{str(path)!r} exists and is not a directory")
        existing, problem = path, f"{str(path)!r} is"
    else:
        existing = path.absolute().parent
        if not deep and not existing.is_dir():
            raise Invalid(f"{str(existing)!r} does not exist")
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise Invalid(f"{str(path)!r} is under {str(existing)!r}, which is not a directory")
        problem = f"{str(path)!r} cannot be created: {str(existing)!r} is"
    if os.statvfs(existing).f_flag & os.ST_RDONLY:
        raise Invalid(f"{problem} on a read-only file system")
    if not os.access(existing, os.W_OK | os.X_OK):  # also false for root on an immutable dir
        raise Invalid(f"{problem} not writable")


@dataclass(frozen=True, slots=True)
class Custom:
    """An option declared with a plain converter function (text -> value)."""

    convert: Callable[[str], Any]
    metavar: str = "X"

    def allowed(self) -> str:
        return (self.convert.__doc__ or "see --help").strip().splitlines()[0]

    def parse(self, text: str) -> Any:
        try:
            return self.convert(text)
        except (ValueError, TypeError) as exc:
            raise Invalid(str(exc)) from None

    def check(self, raw: object) -> Any:
        if isinstance(raw, dict | list | bool):
            raise Invalid(f"{_shown(raw)} is {_toml_type(raw)}")
        return self.parse(str(raw))


def kind_of(kind: object, choices: tuple[str, ...] | None) -> Kind:
    """A kind from what an Option was declared with (a kind, or int/float/str/bool/Path)."""
    if choices:
        return Choice(choices)
    plain: dict[object, Kind] = {int: Int(), float: Float(), str: Text(), bool: Flag(),
                                 Path: InFile()}
    if kind in plain:
        return plain[kind]
    if callable(kind) and not hasattr(kind, "allowed"):
        return Custom(kind)
    return kind  # type: ignore[return-value]
