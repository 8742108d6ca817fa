"""Injected faults: drawn at random per request (seeded), or named by the X-Sim-Fault header.

Random faults (probabilities from the config, one draw per request in arrival order):
  429 (rate limited), sporadic 429 (not a rate limit: OpenRouter's "temporarily rate-limited
  upstream", only a Retry-After of `sporadic_429_retry_after_ms`), 5xx (500/502/503/524/529),
  hang (no answer for an hour, cut short when the server stops), reset (connection dropped,
  no response), malformed (200 with truncated JSON), 200-error (OpenRouter: an `error`
  object inside a 200, or a choice with finish_reason "error" that is still billed).

X-Sim-Fault: KIND[*N][;retry-after-ms=M] forces a fault on this request, so a client can test
each error mapping against the real server. With *N, only the first N requests with the same
header value and body fail; later ones succeed (to test retry-then-success). KIND is one of:
  400 401 402 402-in-flight 403 404 408 409 413 422 429 429-upstream 429-quota 429-daily
  500 502 503 524 529
  context_length hang reset malformed 200-error finish-error empty-choices
  - 401 invalid_api_key; 402 insufficient credits (OpenRouter); 402-in-flight OpenRouter's
    in-flight budget (limit_source openrouter_in_flight_budget, Retry-After); 429-upstream
    the sporadic 429 (upstream, Retry-After only); 403 moderation;
    404 model_not_found; 429-quota OpenAI insufficient_quota (no Retry-After);
    429-daily OpenRouter free-models-per-day cap (X-RateLimit-Reset hours away);
    context_length: 400 with code context_length_exceeded;
    empty-choices: 200 with "choices": [] (and usage).
  - retry-after-ms sets the wait a 429, 402-in-flight or 503 asks for (default 1000 ms).
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

from asyncgen.sim.config import SimConfig, Style
from asyncgen.sim.protocol import JSON, error_body

FAULT_HEADER = "X-Sim-Fault"
DEFAULT_RETRY_AFTER_MS = 1000
DAILY_RESET_S = 6 * 3600.0  # the daily cap resets hours from now
RANDOM_429_MS = (100, 1000)  # retry-after of an injected 429, uniform
_COUNTERS_MAX = 10_000


class FaultKind(enum.Enum):
    """Every fault the simulator can produce; the value is its X-Sim-Fault name."""

    BAD_REQUEST = "400"
    UNAUTHORIZED = "401"
    PAYMENT_REQUIRED = "402"
    IN_FLIGHT_BUDGET = "402-in-flight"
    FORBIDDEN = "403"
    NOT_FOUND = "404"
    REQUEST_TIMEOUT = "408"
    CONFLICT = "409"
    TOO_LARGE = "413"
    UNPROCESSABLE = "422"
    RATE_LIMIT = "429"
    UPSTREAM_429 = "429-upstream"
    QUOTA = "429-quota"
    DAILY_CAP = "429-daily"
    SERVER_ERROR = "500"
    BAD_GATEWAY = "502"
    UNAVAILABLE = "503"
    ORIGIN_TIMEOUT = "524"
    OVERLOADED = "529"
    CONTEXT_LENGTH = "context_length"
    HANG = "hang"
    RESET = "reset"
    MALFORMED = "malformed"
    ERROR_200 = "200-error"
    FINISH_ERROR = "finish-error"
    EMPTY_CHOICES = "empty-choices"


ALLOWED = " ".join(kind.value for kind in FaultKind)
SERVER_ERRORS = (
    FaultKind.SERVER_ERROR, FaultKind.BAD_GATEWAY, FaultKind.UNAVAILABLE,
    FaultKind.ORIGIN_TIMEOUT, FaultKind.OVERLOADED,
)
# faults answered by the server itself, not with an HTTP error status
TRANSPORT_FAULTS = frozenset({
    FaultKind.HANG, FaultKind.RESET, FaultKind.MALFORMED, FaultKind.ERROR_200,
    FaultKind.FINISH_ERROR, FaultKind.EMPTY_CHOICES,
})


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault to inject, with the wait a 429/503 should ask for."""

    kind: FaultKind
    retry_after_ms: int = DEFAULT_RETRY_AFTER_MS


def parse_fault_header(value: str) -> tuple[Fault, int | None]:
    """'KIND[*N][;retry-after-ms=M]' → the fault and N (None: always). ValueError if bad."""
    spec, _, option = value.strip().partition(";")
    name, _, times_text = spec.strip().partition("*")
    try:
        kind = FaultKind(name.strip())
    except ValueError:
        raise ValueError(f"unknown {FAULT_HEADER} {name!r}; allowed: {ALLOWED}") from None
    times = None
    if times_text:
        if not times_text.strip().isdigit():
            raise ValueError(f"{FAULT_HEADER}: *N needs a whole number, got {times_text!r}")
        times = int(times_text)
    retry_after_ms = DEFAULT_RETRY_AFTER_MS
    if option:
        key, _, number = option.partition("=")
        if key.strip() != "retry-after-ms" or not number.strip().isdigit():
            raise ValueError(f"{FAULT_HEADER}: the only option is retry-after-ms=<int>")
        retry_after_ms = int(number)
    return Fault(kind, retry_after_ms), times


class FaultCounter:
    """Counts X-Sim-Fault requests with *N, per (header value, body)."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[tuple[str, int], int] = {}

    def __repr__(self) -> str:
        return f"<FaultCounter keys={len(self._seen)}>"

    def should_fail(self, value: str, body: bytes, times: int | None) -> bool:
        """Whether this request still fails (the first `times` ones do)."""
        if times is None:
            return True
        if len(self._seen) >= _COUNTERS_MAX:
            self._seen.clear()
        key = (value, hash(body))
        served = self._seen.get(key, 0)
        self._seen[key] = served + 1
        return served < times


class FaultPlan:
    """Draws each request's random fault from the configured probabilities (seeded)."""

    __slots__ = ("_rng", "_table", "_sporadic_ms")

    def __init__(self, config: SimConfig) -> None:
        self._rng = random.Random(f"faults:{config.seed}")
        table = (
            (config.fail_429, FaultKind.RATE_LIMIT),
            (config.fail_5xx, FaultKind.SERVER_ERROR),
            (config.fail_hang, FaultKind.HANG),
            (config.fail_reset, FaultKind.RESET),
            (config.fail_malformed, FaultKind.MALFORMED),
            (config.fail_200_error, FaultKind.ERROR_200),
            (config.sporadic_429, FaultKind.UPSTREAM_429),
        )
        self._sporadic_ms = config.sporadic_429_retry_after_ms
        self._table = tuple((p, kind) for p, kind in table if p > 0)

    def __repr__(self) -> str:
        return f"<FaultPlan {', '.join(f'{k.value}={p:g}' for p, k in self._table) or 'none'}>"

    @property
    def enabled(self) -> bool:
        """Whether any random fault is configured."""
        return bool(self._table)

    def draw(self) -> Fault | None:
        """This request's fault, or None."""
        if not self._table:
            return None
        rng = self._rng
        r = rng.random()
        for p, kind in self._table:
            if r < p:
                return self._refine(kind)
            r -= p
        return None

    def _refine(self, kind: FaultKind) -> Fault:
        """Pick the variant: which 5xx, which 200 error, how long a 429 asks to wait."""
        rng = self._rng
        if kind is FaultKind.SERVER_ERROR:
            return Fault(rng.choice(SERVER_ERRORS))
        if kind is FaultKind.ERROR_200:
            return Fault(rng.choice((FaultKind.ERROR_200, FaultKind.FINISH_ERROR)))
        if kind is FaultKind.RATE_LIMIT:
            return Fault(kind, rng.randint(*RANDOM_429_MS))
        if kind is FaultKind.UPSTREAM_429:
            return Fault(kind, self._sporadic_ms)
        return Fault(kind)


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """An HTTP error response: status, JSON body, extra headers."""

    status: int
    body: JSON
    headers: dict[str, str]


def error_reply(
    fault: Fault, style: Style, *, model: str, context: str, now_epoch_s: float
) -> ErrorReply:
    """The HTTP error a status fault produces, in the provider style it belongs to."""
    kind = fault.kind
    if kind is FaultKind.PAYMENT_REQUIRED:  # OpenRouter only
        credits: JSON = {"limit_source": "openrouter_credits"}
        return ErrorReply(402, error_body("openrouter", 402, _PAYMENT, metadata=credits), {})
    if kind is FaultKind.IN_FLIGHT_BUDGET:  # OpenRouter only
        in_flight: JSON = {"limit_source": "openrouter_in_flight_budget"}
        body = error_body("openrouter", 402, _IN_FLIGHT, metadata=in_flight)
        return ErrorReply(402, body, _retry_after(fault.retry_after_ms))
    if kind is FaultKind.UPSTREAM_429:  # OpenRouter: an upstream provider's 429
        upstream: JSON = {
            "raw": f"{model} is temporarily rate-limited upstream. Please retry shortly.",
            "provider_name": "sim-upstream", "retry_after_seconds": fault.retry_after_ms / 1000,
        }
        body = error_body("openrouter", 429, "Provider returned error", metadata=upstream)
        return ErrorReply(429, body, _retry_after(fault.retry_after_ms))
    if kind is FaultKind.QUOTA:  # OpenAI only
        body = error_body("openai", 429, _QUOTA, type_="insufficient_quota",
                          code="insufficient_quota")
        return ErrorReply(429, body, {})
    if kind is FaultKind.DAILY_CAP:  # OpenRouter only
        reset_ms = int((now_epoch_s + DAILY_RESET_S) * 1000)
        cap = {"X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "0",
               "X-RateLimit-Reset": str(reset_ms)}
        body = error_body("openrouter", 429, _DAILY, metadata={"headers": cap})
        return ErrorReply(429, body, cap)
    status, message, type_, code = _STATUS[kind]
    if kind is FaultKind.NOT_FOUND:
        message = message.format(model=model)
    if kind is FaultKind.CONTEXT_LENGTH:
        message = context
    param = "messages" if kind is FaultKind.CONTEXT_LENGTH else None
    meta: JSON | None = None
    if kind is FaultKind.FORBIDDEN:
        meta = {"reasons": ["simulated"], "flagged_input": "...", "provider_name": "sim",
                "model_slug": model}
    body = error_body(style, status, message, type_=type_, code=code, param=param, metadata=meta)
    headers: dict[str, str] = {}
    if kind in (FaultKind.RATE_LIMIT, FaultKind.UNAVAILABLE):
        seconds = fault.retry_after_ms / 1000
        headers["Retry-After"] = str(max(1, -(-fault.retry_after_ms // 1000)))
        if style == "openai":
            headers["retry-after-ms"] = str(fault.retry_after_ms)
        else:
            headers["X-RateLimit-Reset"] = str(int((now_epoch_s + seconds) * 1000))
    return ErrorReply(status, body, headers)


def _retry_after(retry_after_ms: int) -> dict[str, str]:
    """Retry-After in whole seconds (ceil; 0 stays 0)."""
    return {"Retry-After": str(-(-retry_after_ms // 1000))}


_IN_FLIGHT = (
    "Your in-flight requests already fill your spending budget; retry after the Retry-After "
    "delay."
)
_PAYMENT = "Insufficient credits. Add more credits to your account to keep going."
_QUOTA = (
    "You exceeded your current quota, please check your plan and billing details."
)
_DAILY = (
    "Rate limit exceeded: free-models-per-day. Add credits to unlock more free model "
    "requests per day"
)
# kind -> (status, message, OpenAI error type, OpenAI error code)
_STATUS: dict[FaultKind, tuple[int, str, str | None, str | None]] = {
    FaultKind.BAD_REQUEST: (400, "Invalid request (injected by the simulator).",
                            "invalid_request_error", None),
    FaultKind.UNAUTHORIZED: (401, "Incorrect API key provided.", "invalid_request_error",
                             "invalid_api_key"),
    FaultKind.FORBIDDEN: (403, "Your input was flagged by moderation.",
                          "invalid_request_error", "content_policy_violation"),
    FaultKind.NOT_FOUND: (404, "The model `{model}` does not exist or you do not have access "
                          "to it.", "invalid_request_error", "model_not_found"),
    FaultKind.REQUEST_TIMEOUT: (408, "Request timed out.", "timeout", None),
    FaultKind.CONFLICT: (409, "Conflict, please retry.", "conflict", None),
    FaultKind.TOO_LARGE: (413, "Request entity too large.", "invalid_request_error", None),
    FaultKind.UNPROCESSABLE: (422, "Unprocessable entity.", "invalid_request_error", None),
    FaultKind.RATE_LIMIT: (429, "Rate limit reached for requests (injected by the simulator).",
                           "requests", "rate_limit_exceeded"),
    FaultKind.SERVER_ERROR: (500, "The server had an error while processing your request.",
                             "server_error", None),
    FaultKind.BAD_GATEWAY: (502, "Provider returned error.", "server_error", None),
    FaultKind.UNAVAILABLE: (503, "The service is temporarily unavailable.", "server_error",
                            None),
    FaultKind.ORIGIN_TIMEOUT: (524, "The upstream provider timed out.", "server_error", None),
    FaultKind.OVERLOADED: (529, "The model is overloaded, please retry.", "overloaded_error",
                           None),
    FaultKind.CONTEXT_LENGTH: (400, "", "invalid_request_error", "context_length_exceeded"),
}
