"""A request as it goes on the wire and its answer as it comes back: the body (chat or
completions, the prompt cache's mark), the completion read from the response."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from asyncgen.llm.clock import Clock
from asyncgen.llm.params import RequestParams, Stage
from asyncgen.llm.pricing import (
    Price,
    Usage,
    estimate_tokens,
    usage_from,
)
from asyncgen.llm.providers import ProviderConfig

if TYPE_CHECKING:  # asyncgen.llm.budget imports asyncgen.llm: no import cycle at run time
    pass





MS_PER_S = 1000.0


@dataclass(frozen=True, slots=True)
class Completion:
    """One successful completion. `latency_ms` is the successful attempt's round trip,
    `elapsed_ms` the whole `complete` call (queueing and retries included)."""

    text: str
    finish_reason: str
    usage: Usage
    latency_ms: float
    elapsed_ms: float
    attempts: int
    model: str
    stage: Stage


def _text_of(choice: Mapping[str, Any], chat: bool) -> str:
    """The generated text of a chat or completions choice ("" when the model sent none)."""
    if chat:
        message = choice.get("message")
        content = message.get("content") if isinstance(message, dict) else None
    else:
        content = choice.get("text")
    return content if isinstance(content, str) else ""


SplitPrompt = Callable[[str], tuple[str, str]]


def whole_prompt(prompt: str) -> tuple[str, str]:
    """No fixed prefix known: the prompt is all candidate part."""
    return "", prompt


def _cache_marked(fixed: str, variable: str) -> str | list[dict[str, Any]]:
    """The message content with the fixed prefix as its own text part, marked as a prompt-cache
    breakpoint (`cache_control`, for Anthropic models through OpenRouter); the prompt itself
    when it has no fixed part."""
    if not fixed:
        return variable
    return [
        {"type": "text", "text": fixed, "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": variable},
    ]


class Wire:
    """The client's bodies and completions, mixed into `LLMClient`: the per-params part of a
    body is serialised once (`_bodies`, the client's), the prompt spliced in."""

    __slots__ = ()

    config: ProviderConfig
    price: Price | None
    _bodies: dict[RequestParams, tuple[bytes, bytes]]
    _split: SplitPrompt
    _chat: bool
    _clock: Clock

    def model_of(self, stage: Stage) -> str:
        """The model a request of `stage` names: the stage's own, else the run's."""
        params = self.config.params.get(stage)
        return (params.model if params is not None else None) or self.config.model or ""

    def body(self, prompt: str, params: RequestParams) -> bytes:
        """The request body this client sends for `prompt` (the Batch API sends the same)."""
        return self._encode(prompt, params)

    def _encode(self, prompt: str, params: RequestParams) -> bytes:
        """The JSON request body: the per-params part is serialised once, the prompt spliced in
        (`{"model": ..., <params>, "messages": [{"role": "user", "content": <prompt>}]}`)."""
        parts = self._bodies.get(params)
        if parts is None:
            parts = self._bodies[params] = self._body_parts(params)
        if self.config.marks_cache_prefix:
            return parts[0] + orjson.dumps(_cache_marked(*self._split(prompt))) + parts[1]
        return parts[0] + orjson.dumps(prompt) + parts[1]

    def _body_parts(self, params: RequestParams) -> tuple[bytes, bytes]:
        """The JSON around the prompt for these params (built from a dict, so always valid)."""
        marker = "\x00prompt\x00"
        body: dict[str, Any] = {
            "model": self.config.model, **self.config.routing_body(), **params.body()
        }
        if self._chat:
            body["messages"] = [{"role": "user", "content": marker}]
        else:
            body["prompt"] = marker
        head, tail = orjson.dumps(body).split(orjson.dumps(marker))
        return head, tail

    def _completion(
        self,
        stage: Stage,
        body: dict[str, Any],
        attempt: int,
        latency_ms: float,
        started: float,
        estimate: int,
    ) -> Completion:
        """A Completion from a checked response body."""
        choice = body["choices"][0]
        text = _text_of(choice, self._chat)
        raw_usage = body.get("usage")
        if isinstance(raw_usage, dict):
            usage = usage_from(raw_usage, self.price)
        else:  # no usage sent (some compatible servers): count as the simulator does
            completion_tokens = estimate_tokens(text)
            prompt_tokens = max(0, estimate - completion_tokens)
            cost = None if self.price is None else self.price.cost(prompt_tokens, completion_tokens)
            usage = Usage(prompt_tokens, completion_tokens, cost, estimated=True)
        finish = choice.get("finish_reason")
        return Completion(
            text=text,
            finish_reason=finish if isinstance(finish, str) else "unknown",
            usage=usage,
            latency_ms=latency_ms,
            elapsed_ms=(self._clock.monotonic() - started) * MS_PER_S,
            attempts=attempt,
            model=self.model_of(stage),
            stage=stage,
        )
