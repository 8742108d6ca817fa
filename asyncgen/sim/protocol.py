"""The OpenAI / OpenRouter wire format: request bodies in, response bodies out.

Chat requests read the message contents, joined by newlines, as the prompt (the text parts of
one message's content list are concatenated as they are); completions read
`prompt` (a string, or a list of one string). `max_tokens` (or `max_completion_tokens`) and
`stop` (a string or up to 4 strings) are honoured; `n` > 1 and streaming are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from asyncgen.sim.config import SimConfig, Style

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
        elif isinstance(content, list):  # text parts of one message, as one text
            parts.append("".join(
                p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
            ))
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


def usage(config: SimConfig, prompt_tokens: int, completion_tokens: int, cached_tokens: int,
          cost_usd: float) -> JSON:
    """Token counts with `prompt_tokens_details.cached_tokens` (OpenAI and OpenRouter), and
    OpenRouter's `cost` in USD (what the books bill) unless told to leave it out."""
    details: JSON = {"cached_tokens": cached_tokens}
    if config.style == "openrouter":
        details["cache_write_tokens"] = 0  # OpenAI-like caching: writes are free
    body: JSON = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": details,
    }
    if config.usage_cost:
        body["cost"] = cost_usd
    return body


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


def models_body(config: SimConfig, *, created: int) -> JSON:
    """GET /models: the simulated model with OpenRouter-style per-token prices."""
    return {"object": "list", "data": [model_entry(config, config.model, created)]}


def model_entry(config: SimConfig, model: str, created: int) -> JSON:
    """One model, as /models lists it."""
    return {
        "id": model,
        "object": "model",
        "created": created,
        "owned_by": "asyncgen",
        "name": f"asyncgen simulator ({model})",
        "context_length": config.context_length,
        "pricing": {
            "prompt": _per_token(config.price_in),
            "completion": _per_token(config.price_out),
            "input_cache_read": _per_token(config.price_cached),
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

