"""Per-stage request parameters, with the paper's defaults (Self-Instruct, Table 4).

Deviation: on the chat endpoint the generation request does not stop at a blank line
(`defaults_for`). The paper's "\\n\\n" ended a base model's list; a chat model writes
"Here are more tasks:", a blank line, then the list, or leaves blank lines between items, and
the stop sequence cut its answer to the preamble or to the first item (issue 21: 35 % of the
tasks per generation request of a plain list on the simulator, bench/README.md). The parser
ends each item at a blank line instead (selfinstruct.chatlist), so a closing remark is not taken
for an instruction.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

Stage = Literal["instructions", "classify", "instances"]
STAGES: tuple[Stage, ...] = ("instructions", "classify", "instances")
PRIORITY: dict[Stage, int] = {"instances": 0, "classify": 1, "instructions": 2}
"""Which stage's request takes a free slot of the concurrency window first (lowest first): the
stages that finish work already paid for, so open jobs stay few and generation fills the rest."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestParams:
    """Sampling parameters sent with every request of one stage."""

    temperature: float = 0.0
    top_p: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    max_tokens: int = 256
    stop: tuple[str, ...] = field(default_factory=tuple)
    model: str | None = None
    """The stage's own model (TOML `[stages.<stage>] model`); None: the run's model."""

    def __post_init__(self) -> None:
        if self.model is not None and (not isinstance(self.model, str) or not self.model):
            raise ValueError(f"model must be a non-empty string, got {self.model!r}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"temperature must be in [0, 2], got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if not -2.0 <= self.presence_penalty <= 2.0:
            raise ValueError(f"presence_penalty must be in [-2, 2], got {self.presence_penalty}")
        if not -2.0 <= self.frequency_penalty <= 2.0:
            raise ValueError(f"frequency_penalty must be in [-2, 2], got {self.frequency_penalty}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if len(self.stop) > 4:
            raise ValueError("at most 4 stop sequences are allowed (OpenAI's limit)")

    def with_overrides(self, overrides: dict[str, Any]) -> RequestParams:
        """A copy with some fields replaced (from TOML `[params.<stage>]`)."""
        unknown = set(overrides) - set(self.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown request parameter(s): {', '.join(sorted(unknown))}")
        if "stop" in overrides:
            overrides = {**overrides, "stop": tuple(overrides["stop"])}
        return replace(self, **overrides)

    def body(self) -> dict[str, Any]:
        """The fields as they go into an OpenAI request body."""
        out: dict[str, Any] = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
        }
        if self.presence_penalty:
            out["presence_penalty"] = self.presence_penalty
        if self.frequency_penalty:
            out["frequency_penalty"] = self.frequency_penalty
        if self.stop:
            out["stop"] = list(self.stop)
        if self.model:
            out["model"] = self.model  # after the run's model in the body: it wins
        return out


DEFAULT_PARAMS: dict[Stage, RequestParams] = {
    "instructions": RequestParams(
        temperature=0.7,
        top_p=0.5,
        presence_penalty=2.0,
        max_tokens=1024,
        stop=("\n\n", "\n16", "16.", "16 ."),
    ),
    "classify": RequestParams(temperature=0.0, max_tokens=3, stop=("\n", "Task:")),
    "instances": RequestParams(
        temperature=0.0, presence_penalty=1.5, max_tokens=300, stop=("Task:",)
    ),
}

# the generation stop sequences on the chat endpoint: the paper's, without "\n\n"
CHAT_INSTRUCTION_STOP: tuple[str, ...] = ("\n16", "16.", "16 .")


def defaults_for(endpoint: str) -> dict[Stage, RequestParams]:
    """The defaults of each stage for an endpoint ("chat" or "completions")."""
    if endpoint != "chat":
        return dict(DEFAULT_PARAMS)
    chat = replace(DEFAULT_PARAMS["instructions"], stop=CHAT_INSTRUCTION_STOP)
    return {**DEFAULT_PARAMS, "instructions": chat}
