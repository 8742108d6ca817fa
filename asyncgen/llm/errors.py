"""Typed provider errors, and the one boundary where HTTP responses and transport exceptions
become them. Nothing above this module catches an httpx or aiohttp exception.

    ProviderError                     kind, status, attempt, retry_after_s, usage
    ├── RetryableError                transient: retried inside LLMClient, never escapes it
    │   ├── RateLimited               429 that is a rate limit                rate_limit
    │   │   └── SporadicRateLimit     429 that is noise (upstream, short wait) rate_limit_sporadic
    │   ├── InFlightBudget            402 OpenRouter in-flight budget         in_flight_budget
    │   ├── ServerError               409, 5xx (408, 524: kind timeout)       server
    │   ├── ProviderTimeout           connect/read/attempt timeout            timeout
    │   ├── ConnectionFailed          refused, reset, dropped mid-body        connection
    │   ├── MalformedResponse         invalid or truncated JSON body          malformed
    │   ├── ErrorIn200                200 with `error`, or finish_reason "error"  error_in_200
    │   ├── EmptyChoices              200 with no choices                     empty_choices
    │   └── LineNotRun                a Batch API line never run              batch_not_run
    ├── ItemError                     drop this item, keep the run going
    │   ├── BadRequest                400 (and unknown 4xx)                   bad_request
    │   │   └── ContextLengthExceeded 400 context_length_exceeded             context_length
    │   ├── ModerationBlocked         403                                     moderation
    │   ├── PayloadTooLarge           413                                     too_large
    │   ├── Unprocessable             422                                     unprocessable
    │   └── GaveUp                    retrying stopped; carries last_kind
    │       ├── RetriesExhausted      max attempts used                       retries_exhausted
    │       ├── DeadlineExceeded      per-request deadline passed             deadline
    │       └── EndpointOut           its pool took the endpoint out          endpoint_out
    ├── FatalError                    stop the run, with this one message
    │   ├── AuthenticationFailed      401                                     auth
    │   ├── InsufficientCredits       402 (out of credit)                     credits
    │   ├── EndpointUnreachable       refused / DNS before any answer         unreachable
    │   ├── ModelNotFound             404                                     model_not_found
    │   ├── QuotaExhausted            429 insufficient_quota                  quota
    │   ├── DailyCapReached           429 that resets hours away              daily_cap
    │   ├── ProviderUnusable          every recent request failed             unusable
    │   ├── CourierFailed             the courier process died                courier
    │   └── JournalFailed             spend.jsonl cannot be written           journal
    └── BudgetExhausted               the next request cannot fit --budget-usd  budget

A 429 is a rate limit when it carries rate-limit information (a bucket reported empty, a reset
header with no `remaining` saying otherwise, the provider's limit message) or nothing at all (a
silent limit); it is sporadic noise when OpenRouter says the upstream provider returned it, or
when it only asks for a short wait (Retry-After <= SPORADIC_MAX_WAIT_S). The client slows down
for the first kind only. A 402 is OpenRouter's in-flight budget (retryable) when its
`metadata.limit_source` says so or it carries a Retry-After; any other 402 is out of credit.

Messages name the status and the provider's own message, cut short, with the API key and any
bearer token masked. Errors carry `usage` (the body's usage object) when the response was
billed, so the client can count its cost even though the attempt failed.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from types import TracebackType
from typing import Any, ClassVar

import aiohttp
import httpx
import orjson

from asyncgen.llm import retry
from asyncgen.llm.pricing import Usage

MAX_MESSAGE_CHARS = 300
SPORADIC_MAX_WAIT_S = 10.0
"""A 429 with no rate-limit information that asks for at most this long is noise."""
IN_FLIGHT_SOURCE = "openrouter_in_flight_budget"
_TOKENISH = re.compile(r"(?i)(bearer\s+)\S+|\b(sk-[A-Za-z0-9_\-]{3})[A-Za-z0-9_\-]+")
_CONTEXT_LENGTH = re.compile(r"context[_ ]length|maximum context|too many tokens", re.IGNORECASE)
_DAILY = re.compile(r"per[- ]day|daily", re.IGNORECASE)
_LIMIT_MESSAGE = re.compile(
    r"rate[ _-]?limit (reached|exceeded)|requests per|tokens per|per[- ]min|\b[RT]PM\b",
    re.IGNORECASE,
)
_UPSTREAM = re.compile(r"upstream|provider returned error", re.IGNORECASE)
_REMAINING = ("x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens",
              "x-ratelimit-remaining")
_RESETS = ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens", "x-ratelimit-reset")


class ProviderError(Exception):
    """Base of every error `LLMClient.complete` raises."""

    kind: ClassVar[str] = "provider"
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        attempt: int = 0,
        retry_after_s: float | None = None,
        usage: Mapping[str, Any] | None = None,
        maybe_billed: bool = False,
        kind: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.attempt = attempt
        self.retry_after_s = retry_after_s
        self.usage = usage  # the response's `usage` object when it carried one (billed)
        self.maybe_billed = maybe_billed  # sent, but the cost could not be read
        self.billed: Usage | None = None  # `usage` priced by the client
        if kind is not None:
            self.kind = kind  # type: ignore[misc]  # instance override of the class default


class RetryableError(ProviderError):
    """Transient: worth another attempt after a wait."""

    retryable = True


class RateLimited(RetryableError):
    kind = "rate_limit"


class SporadicRateLimit(RateLimited):
    """A 429 that is not this client's limit (an overloaded upstream): wait, do not slow down."""

    kind = "rate_limit_sporadic"


class InFlightBudget(RetryableError):
    """OpenRouter's 402: running requests already fill the in-flight spending budget."""

    kind = "in_flight_budget"


class ServerError(RetryableError):
    kind = "server"


class ProviderTimeout(RetryableError):
    kind = "timeout"


class ConnectionFailed(RetryableError):
    kind = "connection"
    refused: bool = False
    """Refused, or the host name did not resolve: nothing listens at that address."""


class MalformedResponse(RetryableError):
    kind = "malformed"


class ErrorIn200(RetryableError):
    kind = "error_in_200"


class EmptyChoices(RetryableError):
    kind = "empty_choices"


class LineNotRun(RetryableError):
    """The provider never ran this line (the batch expired, was cancelled or failed)."""

    kind = "batch_not_run"


class ItemError(ProviderError):
    """This request cannot succeed: count it, drop the item, keep going."""


class BadRequest(ItemError):
    kind = "bad_request"


class ContextLengthExceeded(BadRequest):
    kind = "context_length"


class ModerationBlocked(ItemError):
    kind = "moderation"


class PayloadTooLarge(ItemError):
    kind = "too_large"


class Unprocessable(ItemError):
    kind = "unprocessable"


class GaveUp(ItemError):
    """A retryable request the client stopped retrying; `last_kind` is the last attempt's kind."""

    def __init__(self, message: str, *, last_kind: str | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.last_kind = last_kind


class RetriesExhausted(GaveUp):
    """Every attempt failed with a retryable error."""

    kind = "retries_exhausted"


class DeadlineExceeded(GaveUp):
    """The per-request deadline passed (or the next wait would pass it)."""

    kind = "deadline"


class EndpointOut(GaveUp):
    """A request of an endpoint its pool took out of service (no connection, timeouts or 5xx
    in a row): the pool sends it to another endpoint, as a retry. Never answered with a
    completion; its last attempt may have reached the endpoint (a timeout, a reset after the
    body left), and was settled there (maybe billed) first. `last_kind` is why (its last
    attempt's kind, or `unreachable`: queued, never sent)."""

    kind = "endpoint_out"


class FatalError(ProviderError):
    """No request of this run can succeed: stop cleanly with this message."""


class AuthenticationFailed(FatalError):
    kind = "auth"


class InsufficientCredits(FatalError):
    kind = "credits"


class EndpointUnreachable(FatalError):
    """Connections to the base URL are refused (or its name does not resolve) and it has not
    answered once: a wrong --base-url, or a server that is not running."""

    kind = "unreachable"


class ModelNotFound(FatalError):
    kind = "model_not_found"


class QuotaExhausted(FatalError):
    kind = "quota"


class DailyCapReached(FatalError):
    kind = "daily_cap"


class ProviderUnusable(FatalError):
    """Every recent request failed (after its retries): the provider is down or misconfigured."""

    kind = "unusable"

class CourierFailed(FatalError):
    """The courier process exited under a live run: nothing more can be sent."""

    kind = "courier"

class JournalFailed(FatalError):
    """The spend journal cannot be written: nothing more may be risked."""

    kind = "journal"


class SendingStopped(Exception):
    """A request of a stage the run has stopped sending (`LLMClient.hold`), refused before it
    was sent: not a provider fault, nothing was billed."""


class BudgetExhausted(ProviderError):
    """The next request's worst-case cost does not fit in what is left of the budget."""

    kind = "budget"


_ITEM_BY_STATUS: dict[int, type[ItemError]] = {
    400: BadRequest,
    403: ModerationBlocked,
    413: PayloadTooLarge,
    422: Unprocessable,
}
_FATAL_BY_STATUS: dict[int, type[FatalError]] = {
    401: AuthenticationFailed,
    402: InsufficientCredits,
    404: ModelNotFound,
}
_RETRYABLE_STATUS = frozenset({408, 409, 500, 502, 503, 524, 529})
_TIMEOUT_STATUS = frozenset({408, 524})


def redact(text: str, secret: str | None) -> str:
    """Mask the key, bearer tokens and sk- keys; cut to MAX_MESSAGE_CHARS."""
    if secret:
        text = text.replace(secret, "[redacted]")
    text = _TOKENISH.sub(lambda m: (m.group(1) or m.group(2)) + "[redacted]", text)
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS] + "..."
    return text


def _error_object(body: Any) -> Mapping[str, Any] | None:
    """The `error` object of an OpenAI/OpenRouter error body, if any."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return error
        if isinstance(error, str):
            return {"message": error}
    return None


def _usage(body: Any) -> Mapping[str, Any] | None:
    """The body's usage object, when the response was billed."""
    if isinstance(body, dict):
        usage = body.get("usage")
        if isinstance(usage, dict) and usage:
            return usage
    return None


def _describe(status: int, error: Mapping[str, Any] | None, secret: str | None) -> str:
    """One line: status and the provider's message."""
    detail = ""
    if error is not None:
        detail = str(error.get("message") or error.get("code") or error.get("type") or "")
    return redact(f"HTTP {status}: {detail}" if detail else f"HTTP {status}", secret)


def _codes(error: Mapping[str, Any] | None) -> str:
    """The error's code and type as one lower-case string, for matching."""
    if error is None:
        return ""
    return f"{error.get('code') or ''} {error.get('type') or ''}".lower()


def _metadata(error: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The error's `metadata` object (OpenRouter), or an empty one."""
    metadata = error.get("metadata") if error is not None else None
    return metadata if isinstance(metadata, dict) else {}


def _is_zero(value: str | None) -> bool:
    """A header count that says 0 (or less)."""
    try:
        return value is not None and float(value) <= 0
    except ValueError:
        return False


def is_sporadic_429(
    headers: Mapping[str, str], error: Mapping[str, Any] | None, text: str, wait_s: float | None
) -> bool:
    """A 429 that is noise rather than a rate limit of this client (see the module doc)."""
    metadata = _metadata(error)
    if metadata.get("provider_name") or _UPSTREAM.search(str(metadata.get("raw") or "")):
        return True  # OpenRouter: the upstream provider said 429, not OpenRouter's limit
    if _LIMIT_MESSAGE.search(text):
        return False
    remaining = [headers.get(name) for name in _REMAINING if headers.get(name) is not None]
    if any(_is_zero(value) for value in remaining):
        return False  # a bucket is empty
    if not remaining and any(headers.get(name) is not None for name in _RESETS):
        return False  # a reset with no count saying the bucket has room
    if _UPSTREAM.search(text):
        return True
    return wait_s is not None and wait_s <= SPORADIC_MAX_WAIT_S


def error_for_status(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    attempt: int,
    now: float,
    secret: str | None,
) -> ProviderError:
    """Map a non-2xx response to its typed error."""
    try:
        parsed: Any = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    error = _error_object(parsed)
    message = _describe(status, error, secret)
    context: dict[str, Any] = {
        "status": status,
        "attempt": attempt,
        "retry_after_s": retry.server_wait(headers, now),
        "usage": _usage(parsed),
    }
    if status == 429:
        text = f"{_codes(error)} {message}"
        if "insufficient_quota" in text:
            return QuotaExhausted(message, **context)
        if retry.is_daily_cap(headers, now) or _DAILY.search(text):
            return DailyCapReached(message, **context)
        if is_sporadic_429(headers, error, text, context["retry_after_s"]):
            return SporadicRateLimit(message, **context)
        return RateLimited(message, **context)
    if status == 402 and (
        _metadata(error).get("limit_source") == IN_FLIGHT_SOURCE
        or context["retry_after_s"] is not None
    ):
        return InFlightBudget(message, **context)
    if status == 400 and (
        "context_length" in _codes(error) or _CONTEXT_LENGTH.search(message) is not None
    ):
        return ContextLengthExceeded(message, **context)
    if status in _FATAL_BY_STATUS:
        return _FATAL_BY_STATUS[status](message, **context)
    if status in _ITEM_BY_STATUS:
        return _ITEM_BY_STATUS[status](message, **context)
    if status in _RETRYABLE_STATUS or status >= 500:
        kind = "timeout" if status in _TIMEOUT_STATUS else None
        return ServerError(message, kind=kind, **context)
    if 400 <= status < 500:
        return BadRequest(message, **context)
    return MalformedResponse(f"unexpected HTTP {status}", **context)


def check_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    attempt: int,
    now: float,
    secret: str | None,
) -> dict[str, Any]:
    """The decoded body of a good response; every other response raises its typed error."""
    if not 200 <= status < 300:
        raise error_for_status(status, headers, body, attempt=attempt, now=now, secret=secret)
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MalformedResponse(
            f"HTTP {status}: invalid or truncated JSON ({len(body)} bytes)",
            status=status,
            attempt=attempt,
            maybe_billed=True,
        ) from None
    if not isinstance(parsed, dict):
        raise MalformedResponse(
            f"HTTP {status}: body is not a JSON object", status=status, attempt=attempt
        )
    error = _error_object(parsed)
    choices = parsed.get("choices")
    if error is None and isinstance(choices, list) and choices:
        first = choices[0]
        if isinstance(first, dict) and first.get("finish_reason") == "error":
            error = _error_object(first) or {"message": "choice finished with error"}
    if error is not None:
        raise ErrorIn200(
            _describe(status, error, secret),
            status=status,
            attempt=attempt,
            usage=_usage(parsed),
            retry_after_s=retry.server_wait(headers, now),
        )
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise EmptyChoices(
            f"HTTP {status}: no choices in the response",
            status=status,
            attempt=attempt,
            usage=_usage(parsed),
        )
    return parsed


class CourierError(Exception):
    """A transport failure the courier process classified (`frame_fields` there): the kind of
    `ProviderError` it maps to, its text, whether the request may have reached the provider,
    and whether the connection was refused."""

    KINDS = ("timeout", "connection", "malformed")

    def __init__(self, kind: str, text: str, maybe_billed: bool, refused: bool) -> None:
        super().__init__(text)
        self.kind = kind if kind in self.KINDS else "connection"
        self.text, self.maybe_billed, self.refused = text, maybe_billed, refused

    def frame_fields(self) -> list[Any]:
        return [self.kind, self.text, self.maybe_billed, self.refused]


def courier_error(exc: Exception) -> CourierError:
    """How the courier reports a failed exchange: classified where it happened, so the run
    rebuilds no foreign exception type."""
    mapped = transport_error(exc, attempt=0, secret=None)
    return CourierError(mapped.kind, str(mapped), mapped.maybe_billed,
                        getattr(mapped, "refused", False))


TRANSPORT_ERRORS = (httpx.TransportError, httpx.DecodingError, aiohttp.ClientError, OSError,
                    CourierError)
"""What a transport may raise: httpx's errors, aiohttp's or the OS's leaking through, and
the courier's classified failures."""


def _refusal(exc: BaseException) -> str | None:
    """"connection refused" or "host name not resolved" when that is behind `exc` (its causes
    followed), else None."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, aiohttp.ClientConnectorError):
            seen = seen.os_error
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, socket.gaierror):
            return f"host name not resolved ({seen.strerror})"
        seen = seen.__cause__ or seen.__context__
    return None


def transport_error(exc: Exception, *, attempt: int, secret: str | None) -> ProviderError:
    """Classify one foreign exception (httpx, or aiohttp/OSError leaking through a transport),
    or one the courier classified."""
    if isinstance(exc, CourierError):
        kinds: dict[str, type[RetryableError]] = {
            "timeout": ProviderTimeout, "connection": ConnectionFailed,
            "malformed": MalformedResponse}
        classified = kinds[exc.kind](redact(exc.text, secret), attempt=attempt,
                                      maybe_billed=exc.maybe_billed)
        if isinstance(classified, ConnectionFailed):
            classified.refused = exc.refused
        return classified
    cause = exc.__cause__ if isinstance(exc, httpx.HTTPError) else exc
    name = type(cause if cause is not None else exc).__name__
    refusal = _refusal(exc)
    refused = refusal is not None
    if isinstance(cause, aiohttp.ClientConnectorError):  # its str says "ssl:default" for http
        os_error = cause.os_error
        reason = refusal or os_error.strerror or str(os_error)
        text = redact(f"{name}: cannot connect to {cause.host}:{cause.port}: {reason}", secret)
    else:
        text = redact(f"{name}: {refusal or (cause if cause is not None else exc)}", secret)
    never_sent = (
        isinstance(exc, httpx.ConnectError | httpx.PoolTimeout | aiohttp.ClientConnectorError)
        or (isinstance(exc, httpx.ConnectTimeout) and not isinstance(cause, aiohttp.ClientError))
    ) or isinstance(
        cause,
        aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError | ConnectionRefusedError,
    )
    context: dict[str, Any] = {"attempt": attempt, "maybe_billed": not never_sent}
    if isinstance(cause, aiohttp.ServerTimeoutError | TimeoutError):
        return ProviderTimeout(text, **context)
    if isinstance(cause, aiohttp.ClientConnectionError | OSError):
        # The aiohttp transport maps every connection error to httpx.ConnectTimeout.
        failed = ConnectionFailed(text, **context)
        failed.refused = refused
        return failed
    if isinstance(exc, httpx.TimeoutException):
        return ProviderTimeout(text, **context)
    if isinstance(exc, httpx.DecodingError):
        return MalformedResponse(text, **context)
    failed = ConnectionFailed(text, **context)
    failed.refused = refused
    return failed


class map_transport_errors:  # lower case: used like a context-manager function
    """Translate transport exceptions into typed errors (`raise Mapped(msg) from exc`; the
    foreign exception is dropped from the chain when it holds the request's headers).

    A class, not a @contextmanager generator: it wraps every request, and a generator costs
    several times more to enter and leave."""

    __slots__ = ("_attempt", "_secret")

    def __init__(self, *, attempt: int, secret: str | None) -> None:
        self._attempt = attempt
        self._secret = secret

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or not isinstance(exc, TRANSPORT_ERRORS):
            return  # success, or not a transport's error: let it propagate unchanged
        mapped = transport_error(exc, attempt=self._attempt, secret=self._secret)
        if _carries_request_headers(exc):
            raise mapped from None  # its repr shows the Authorization header
        raise mapped from exc


def _carries_request_headers(exc: BaseException) -> bool:
    """aiohttp's ClientResponseError keeps the request's headers and shows them in its repr."""
    chain: BaseException | None = exc
    while chain is not None:
        if isinstance(chain, aiohttp.ClientResponseError):
            return True
        chain = chain.__cause__
    return False
