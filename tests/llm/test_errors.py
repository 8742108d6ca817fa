"""The mapping boundary: statuses, bodies and transport exceptions to typed errors."""

from __future__ import annotations

from typing import Any

import aiohttp
import httpx
import orjson
import pytest

from asyncgen.llm import errors as e

NOW = 1_800_000_000.0
KEY = "sk-MARKER-0123456789abcdef"


def _body(message: str = "oops", **fields: Any) -> bytes:
    return orjson.dumps({"error": {"message": message, **fields}})


def _map(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> e.ProviderError:
    return e.error_for_status(
        status, httpx.Headers(headers or {}), body, attempt=2, now=NOW, secret=KEY
    )


@pytest.mark.parametrize(
    ("status", "body", "headers", "cls", "kind"),
    [
        (408, b"", {}, e.ServerError, "timeout"),
        (409, b"", {}, e.ServerError, "server"),
        (429, _body("slow down"), {"retry-after": "2"}, e.SporadicRateLimit,
         "rate_limit_sporadic"),
        (402, _body("budget", metadata={"limit_source": e.IN_FLIGHT_SOURCE}),
         {"retry-after": "3"}, e.InFlightBudget, "in_flight_budget"),
        (500, b"", {}, e.ServerError, "server"),
        (502, b"<html>bad gateway</html>", {}, e.ServerError, "server"),
        (503, b"", {}, e.ServerError, "server"),
        (524, b"", {}, e.ServerError, "timeout"),
        (529, b"", {}, e.ServerError, "server"),
        (507, b"", {}, e.ServerError, "server"),  # unknown 5xx: retryable
        (401, _body("no auth"), {}, e.AuthenticationFailed, "auth"),
        (402, _body("Insufficient credits", code=402), {}, e.InsufficientCredits, "credits"),
        (404, _body("model not found"), {}, e.ModelNotFound, "model_not_found"),
        (
            429,
            _body("You exceeded your current quota", type="insufficient_quota"),
            {},
            e.QuotaExhausted,
            "quota",
        ),
        (
            429,
            _body("quota", code="insufficient_quota", type="requests"),
            {"retry-after": "1"},
            e.QuotaExhausted,
            "quota",
        ),
        (
            429,
            _body("Rate limit exceeded"),
            {"x-ratelimit-reset": str(int((NOW + 6 * 3600) * 1000))},
            e.DailyCapReached,
            "daily_cap",
        ),
        (
            429,
            _body("Rate limit exceeded: free-models-per-day"),
            {"retry-after": "20"},
            e.DailyCapReached,
            "daily_cap",
        ),
        (400, _body("bad field"), {}, e.BadRequest, "bad_request"),
        (
            400,
            _body("too long", code="context_length_exceeded"),
            {},
            e.ContextLengthExceeded,
            "context_length",
        ),
        (
            400,
            _body("This model's maximum context length is 8192 tokens"),
            {},
            e.ContextLengthExceeded,
            "context_length",
        ),
        (403, _body("flagged"), {}, e.ModerationBlocked, "moderation"),
        (413, b"", {}, e.PayloadTooLarge, "too_large"),
        (422, _body("unprocessable"), {}, e.Unprocessable, "unprocessable"),
        (418, b"", {}, e.BadRequest, "bad_request"),  # unknown 4xx: this item only
        (302, b"", {}, e.MalformedResponse, "malformed"),
    ],
)
def test_status_mapping(
    status: int, body: bytes, headers: dict[str, str], cls: type[e.ProviderError], kind: str
) -> None:
    err = _map(status, body, headers)
    assert type(err) is cls
    assert err.kind == kind
    assert err.status == status
    assert err.attempt == 2


UPSTREAM = {"provider_name": "Venice", "raw": "model is temporarily rate-limited upstream"}


@pytest.mark.parametrize(
    ("body", "headers", "sporadic"),
    [
        # rate-limit information: slow down
        (_body("Too Many Requests"), {}, False),  # a bare 429: a silent limit
        (_body("Rate limit reached for gpt-4o-mini on requests per min (RPM)"),
         {"retry-after": "1"}, False),
        (_body("slow down"), {"retry-after": "1", "x-ratelimit-remaining-requests": "0"}, False),
        (_body("slow down"), {"retry-after": "1", "x-ratelimit-reset": str(int(NOW * 1000))},
         False),
        (_body("slow down"), {"retry-after": "60"}, False),  # a long wait: a limit
        # noise: wait, but do not slow everyone down
        (_body("slow down"), {"retry-after": "1"}, True),
        (_body("slow down"), {"retry-after-ms": "250", "x-ratelimit-remaining-requests": "12",
                              "x-ratelimit-reset-requests": "1s"}, True),
        (_body("Provider returned error", code=429, metadata=UPSTREAM), {}, True),
        (_body("Provider returned error", code=429, metadata=UPSTREAM),
         {"retry-after": "17"}, True),
    ],
)
def test_a_429_is_told_a_rate_limit_or_noise(
    body: bytes, headers: dict[str, str], sporadic: bool
) -> None:
    err = _map(429, body, headers)
    assert isinstance(err, e.RateLimited)
    assert isinstance(err, e.SporadicRateLimit) is sporadic


def test_a_402_is_an_in_flight_budget_only_when_it_says_so() -> None:
    in_flight = _map(402, _body("wait", metadata={"limit_source": e.IN_FLIGHT_SOURCE}))
    assert type(in_flight) is e.InFlightBudget and in_flight.retryable
    out = _map(402, _body("Insufficient credits", metadata={"limit_source": "openrouter_credits"}))
    assert type(out) is e.InsufficientCredits and not out.retryable


@pytest.mark.parametrize(
    ("status", "family"),
    [
        (429, e.RetryableError),
        (503, e.RetryableError),
        (400, e.ItemError),
        (403, e.ItemError),
        (413, e.ItemError),
        (422, e.ItemError),
        (401, e.FatalError),
        (402, e.FatalError),
        (404, e.FatalError),
    ],
)
def test_families(status: int, family: type[e.ProviderError]) -> None:
    err = _map(status, _body())
    assert isinstance(err, family)
    assert err.retryable is (family is e.RetryableError)


def test_rate_limit_carries_the_server_wait() -> None:
    err = _map(429, _body(), {"retry-after-ms": "750"})
    assert err.retry_after_s == pytest.approx(0.75)
    assert _map(503, b"", {"retry-after": "4"}).retry_after_s == 4.0
    assert _map(500).retry_after_s is None


def test_message_names_status_and_provider_message() -> None:
    err = _map(400, _body("temperature must be <= 2"))
    assert str(err) == "HTTP 400: temperature must be <= 2"
    assert len(str(_map(400, _body("x" * 5000)))) <= e.MAX_MESSAGE_CHARS + 3


@pytest.mark.parametrize(
    "message",
    [
        f"Incorrect API key provided: {KEY}",
        f"header was Authorization: Bearer {KEY}",
        "Incorrect API key provided: sk-proj-abcdefghijklmnop",
        f"Bearer {KEY[:10]}",
    ],
)
def test_messages_never_carry_keys(message: str) -> None:
    err = _map(401, _body(message))
    assert "MARKER" not in str(err)
    assert "abcdefghijklmnop" not in str(err)
    assert "[redacted]" in str(err)


def _check(body: bytes, status: int = 200) -> dict[str, Any]:
    return e.check_response(status, httpx.Headers(), body, attempt=1, now=NOW, secret=KEY)


OK = {"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}], "usage": {}}


def test_check_response_passes_a_good_body() -> None:
    assert _check(orjson.dumps(OK)) == OK


@pytest.mark.parametrize(
    ("body", "cls"),
    [
        (b'{"choices": [{"message": {"content": "hi"', e.MalformedResponse),  # truncated
        (b"<html>", e.MalformedResponse),
        (b"", e.MalformedResponse),
        (b"[1, 2]", e.MalformedResponse),
        (orjson.dumps({"error": {"code": 502, "message": "upstream"}}), e.ErrorIn200),
        (orjson.dumps({"error": "plain string"}), e.ErrorIn200),
        (
            orjson.dumps(
                {"choices": [{"finish_reason": "error", "error": {"message": "mid-generation"}}]}
            ),
            e.ErrorIn200,
        ),
        (orjson.dumps({"choices": []}), e.EmptyChoices),
        (orjson.dumps({"id": "x"}), e.EmptyChoices),
    ],
)
def test_check_response_rejects(body: bytes, cls: type[e.ProviderError]) -> None:
    with pytest.raises(cls) as info:
        _check(body)
    assert info.value.retryable
    assert info.value.status == 200


def test_error_in_200_keeps_usage_for_billing() -> None:
    usage = {"prompt_tokens": 12, "completion_tokens": 3, "cost": 0.001}
    body = orjson.dumps({"error": {"message": "boom"}, "usage": usage})
    with pytest.raises(e.ErrorIn200) as info:
        _check(body)
    assert info.value.usage == usage


def test_truncated_body_may_have_been_billed() -> None:
    with pytest.raises(e.MalformedResponse) as info:
        _check(b'{"choices": [')
    assert info.value.maybe_billed


def _mapped(exc: Exception) -> e.ProviderError:
    with pytest.raises(e.ProviderError) as info, e.map_transport_errors(attempt=3, secret=KEY):
        raise exc
    assert info.value.__cause__ is exc
    assert info.value.attempt == 3
    return info.value


def _wrapped(outer: type[httpx.HTTPError], inner: BaseException) -> httpx.HTTPError:
    """What httpx_aiohttp raises: an httpx exception whose cause is the aiohttp one."""
    try:
        try:
            raise inner
        except BaseException as cause:
            raise outer(str(cause)) from cause
    except httpx.HTTPError as exc:
        return exc


@pytest.mark.parametrize(
    ("exc", "cls", "maybe_billed"),
    [
        (httpx.ReadTimeout("read"), e.ProviderTimeout, True),
        (httpx.ConnectTimeout("connect"), e.ProviderTimeout, False),
        (httpx.PoolTimeout("pool"), e.ProviderTimeout, False),
        (httpx.ConnectError("refused"), e.ConnectionFailed, False),
        (httpx.ReadError("reset"), e.ConnectionFailed, True),
        (httpx.RemoteProtocolError("disconnected"), e.ConnectionFailed, True),
        (httpx.DecodingError("gzip"), e.MalformedResponse, True),
        # httpx_aiohttp maps every aiohttp connection error to ConnectTimeout: look at the cause
        (
            _wrapped(httpx.ConnectTimeout, aiohttp.ServerDisconnectedError()),
            e.ConnectionFailed,
            True,
        ),
        (
            _wrapped(httpx.ReadTimeout, aiohttp.SocketTimeoutError("sock read")),
            e.ProviderTimeout,
            True,
        ),
        (_wrapped(httpx.ReadError, aiohttp.ClientPayloadError("short")), e.ConnectionFailed, True),
        (aiohttp.ServerDisconnectedError(), e.ConnectionFailed, True),  # leaked past the transport
        (ConnectionResetError("reset by peer"), e.ConnectionFailed, True),
        (TimeoutError(), e.ProviderTimeout, True),
    ],
)
def test_transport_mapping(exc: Exception, cls: type[e.ProviderError], maybe_billed: bool) -> None:
    err = _mapped(exc)
    assert type(err) is cls
    assert err.maybe_billed is maybe_billed
    assert err.status is None


def test_transport_message_is_redacted() -> None:
    err = _mapped(httpx.ConnectError(f"could not connect with {KEY}"))
    assert KEY not in str(err)


def test_an_aiohttp_error_holding_request_headers_leaves_the_chain() -> None:
    from multidict import CIMultiDict, CIMultiDictProxy
    from yarl import URL

    headers = CIMultiDictProxy(CIMultiDict({"Authorization": f"Bearer {KEY}"}))
    info = aiohttp.RequestInfo(URL("http://x/v1"), "POST", headers, URL("http://x/v1"))
    exc = aiohttp.ClientResponseError(info, (), status=400, message="Invalid response status")
    assert KEY in repr(exc)  # the danger
    with pytest.raises(e.ProviderError) as raised, e.map_transport_errors(attempt=1, secret=KEY):
        raise httpx.RemoteProtocolError("bad response") from exc
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert KEY not in str(raised.value) and KEY not in repr(raised.value)


def test_cancellation_is_not_mapped() -> None:
    import asyncio

    with pytest.raises(asyncio.CancelledError), e.map_transport_errors(attempt=1, secret=None):
        raise asyncio.CancelledError


def test_retries_exhausted_and_deadline_are_item_errors() -> None:
    exhausted = e.RetriesExhausted("gave up", last_kind="server", status=503, attempt=6)
    deadline = e.DeadlineExceeded("late", last_kind="timeout", attempt=2)
    assert isinstance(exhausted, e.ItemError) and exhausted.kind == "retries_exhausted"
    assert isinstance(deadline, e.ItemError) and deadline.kind == "deadline"
    assert exhausted.last_kind == "server"
    assert e.BudgetExhausted("no money").kind == "budget"
    assert not isinstance(e.BudgetExhausted("x"), e.ItemError | e.FatalError)


def test_every_kind_in_the_tree_is_distinct_and_documented() -> None:
    classes: list[type[e.ProviderError]] = []
    stack: list[type[e.ProviderError]] = [e.ProviderError]
    while stack:
        cls = stack.pop()
        classes.append(cls)
        stack.extend(cls.__subclasses__())
    leaves = [c for c in classes if not c.__subclasses__() or c is e.BadRequest]
    kinds = [c.kind for c in leaves]
    assert len(kinds) == len(set(kinds))
    doc = e.__doc__ or ""
    for cls in classes:
        assert cls.__name__ in doc, cls
