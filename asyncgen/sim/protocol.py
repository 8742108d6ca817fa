"""The OpenAI / OpenRouter wire format: request bodies in, response bodies out.

Chat requests read the concatenated message contents as the prompt; completions read
`prompt` (a string, or a list of one string). `max_tokens` (or `max_completion_tokens`) and
`stop` (a string or up to 4 strings) are honoured; `n` > 1 and streaming are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from asyncgen.sim.books import cost_usd
from asyncgen.sim.config import PRICE_IN_PER_M, PRICE_OUT_PER_M, Style

Endpoint = Literal["chat", "completions"]
JSON = dict[str, Any]


class BadRequest(Exception):
    """The request body is not a valid completion request (HTTP 400)."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(frozen=True, slots=True)
class SimRequest:
    """The parts of a completion request the simulator uses."""

    endpoint: Endpoint
    model: str
    prompt: str
    max_tokens: int | None
    stop: tuple[str, ...]


def parse_request(endpoint: Endpoint, raw: bytes) -> SimRequest:
    """Validate a request body and pull out prompt, model, max_tokens and stop."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("you must provide a model parameter", param="model")
    if body.get("stream"):
        raise BadRequest("stream=true is not supported by the simulator", param="stream")
    if body.get("n", 1) != 1:
        raise BadRequest("only n=1 is supported by the simulator", param="n")
    prompt = _chat_prompt(body) if endpoint == "chat" else _completion_prompt(body)
    return SimRequest(endpoint, model, prompt, _max_tokens(body), _stop(body))


def _chat_prompt(body: JSON) -> str:
    """The message contents, joined (the pipeline sends one user message)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages must be a non-empty array", param="messages")
    parts: list[str] = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p["text"] for p in content if isinstance(p, dict) and "text" in p)
        else:
            raise BadRequest("each message needs a string content", param="messages")
    return "\n".join(parts)


def _completion_prompt(body: JSON) -> str:
    """`prompt` as a string or a list of one string."""
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise BadRequest("prompt must be a string or a list of one string", param="prompt")
    return prompt


def _max_tokens(body: JSON) -> int | None:
    """max_tokens (or max_completion_tokens), a positive integer, or None."""
    value = body.get("max_tokens", body.get("max_completion_tokens"))
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        message = f"max_tokens must be a positive integer, got {value!r}"
        raise BadRequest(message, param="max_tokens")
    return value


def _stop(body: JSON) -> tuple[str, ...]:
    """Stop sequences: a string or a list of at most 4 strings."""
    stop = body.get("stop")
    if stop is None:
        return ()
    if isinstance(stop, str):
        return (stop,)
    if isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) for s in stop):
        return tuple(stop)
    raise BadRequest("stop must be a string or a list of at most 4 strings", param="stop")


def usage(prompt_tokens: int, completion_tokens: int) -> JSON:
    """Token counts and OpenRouter-style cost in USD (what the books bill)."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "cost": cost_usd(prompt_tokens, completion_tokens),
    }


def completion_body(
    request: SimRequest, text: str, finish_reason: str, usage_: JSON, *, ident: str, created: int
) -> JSON:
    """A chat.completion or text_completion object."""
    if request.endpoint == "chat":
        choice: JSON = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": finish_reason,
            "logprobs": None,
        }
        kind = "chat.completion"
    else:
        choice = {"index": 0, "text": text, "finish_reason": finish_reason, "logprobs": None}
        kind = "text_completion"
    return {
        "id": ident,
        "object": kind,
        "created": created,
        "model": request.model,
        "provider": "sim",
        "choices": [choice],
        "usage": usage_,
    }


def models_body(model: str, *, created: int, context_length: int) -> JSON:
    """GET /models: the simulated model with OpenRouter-style per-token prices."""
    return {"object": "list", "data": [model_entry(model, created, context_length)]}


def model_entry(model: str, created: int, context_length: int) -> JSON:
    """One model, as /models lists it."""
    return {
        "id": model,
        "object": "model",
        "created": created,
        "owned_by": "asyncgen",
        "name": f"asyncgen simulator ({model})",
        "context_length": context_length,
        "pricing": {
            "prompt": _per_token(PRICE_IN_PER_M),
            "completion": _per_token(PRICE_OUT_PER_M),
        },
    }


def _per_token(per_million: float) -> str:
    """USD per token as OpenRouter writes it: '0.0000005'."""
    return f"{per_million / 1e6:.12f}".rstrip("0").rstrip(".")


def error_body(
    style: Style,
    status: int,
    message: str,
    *,
    type_: str | None = None,
    code: str | None = None,
    param: str | None = None,
    metadata: JSON | None = None,
) -> JSON:
    """An error object: OpenAI's {message, type, param, code} or OpenRouter's {code, message}."""
    if style == "openai":
        return {"error": {"message": message, "type": type_, "param": param, "code": code}}
    error: JSON = {"code": status, "message": message}
    if metadata is not None:
        error["metadata"] = metadata
    return {"error": error}


def context_length_message(limit: int, prompt_tokens: int, max_tokens: int) -> str:
    """OpenAI's wording for a request that does not fit the context window."""
    total = prompt_tokens + max_tokens
    return (
        f"This model's maximum context length is {limit} tokens. However, you requested "
        f"{total} tokens ({prompt_tokens} in the messages, {max_tokens} in the completion). "
        "Please reduce the length of the messages or completion."
    )

