"""Rate-limit headers, as each provider style spells them (pure functions).

openai:     x-ratelimit-{limit,remaining,reset}-{requests,tokens}, resets as durations
            ("547ms", "1s", "8.64s", "6m0s"); on 429 also retry-after (s) and retry-after-ms.
openrouter: X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset (epoch milliseconds)
            for the bucket that matters (the one that said no, else requests); on 429 also
            Retry-After (s).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from asyncgen.sim.config import Style
from asyncgen.sim.limits import BucketState


def format_duration(seconds: float) -> str:
    """OpenAI's reset duration: '0s', '547ms', '1s', '8.64s', '6m0s', '1h2m3s'."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    hours, rest = divmod(round(seconds, 3), 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{text}"
    if minutes:
        return f"{int(minutes)}m{text}"
    return text


def retry_after_headers(style: Style, retry_after_s: float) -> dict[str, str]:
    """Retry-After in whole seconds (ceil, at least 1); OpenAI also sends milliseconds."""
    headers = {"Retry-After": str(max(1, math.ceil(retry_after_s)))}
    if style == "openai":
        headers["retry-after-ms"] = str(max(1, math.ceil(retry_after_s * 1000)))
    return headers


def rate_limit_headers(
    style: Style,
    states: Sequence[BucketState],
    *,
    limited_by: str | None,
    retry_after_s: float,
    now_epoch_s: float,
) -> dict[str, str]:
    """The x-ratelimit headers of a response (success or 429) for the given bucket states."""
    if not states:
        return {}
    headers: dict[str, str] = {}
    if style == "openai":
        for state in states:
            headers[f"x-ratelimit-limit-{state.resource}"] = str(state.limit)
            headers[f"x-ratelimit-remaining-{state.resource}"] = str(state.remaining)
            headers[f"x-ratelimit-reset-{state.resource}"] = format_duration(state.reset_s)
    else:
        preferred = limited_by or "requests"
        state = next((s for s in states if s.resource == preferred), states[0])
        wait = retry_after_s if limited_by is not None else state.reset_s
        headers["X-RateLimit-Limit"] = str(state.limit)
        headers["X-RateLimit-Remaining"] = str(state.remaining)
        headers["X-RateLimit-Reset"] = str(math.ceil((now_epoch_s + wait) * 1000))
    if limited_by is not None:
        headers.update(retry_after_headers(style, retry_after_s))
    return headers
