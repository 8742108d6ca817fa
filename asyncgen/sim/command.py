"""`asyncgen sim`: flags, and running the server until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from asyncgen.errors import UsageError
from asyncgen.sim.config import SPORADIC_RETRY_AFTER_MS, STYLES, SimConfig
from asyncgen.sim.server import serve

_PROBABILITY = "probability in [0, 1]"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `sim` subcommand's flags."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (0: a free port)")
    parser.add_argument("--seed", type=int, default=0, help="same seed + prompt = same answer")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to each response")
    parser.add_argument("--latency-spread-ms", type=float, default=0.0,
                        help="latency is uniform in latency ± spread")
    parser.add_argument("--tokens-per-s", type=float, default=0.0,
                        help="output speed; adds completion_tokens/tokens_per_s (0: instant)")
    parser.add_argument("--rpm-limit", type=int, default=0,
                        help="requests per minute, enforced with 429 (0: unlimited)")
    parser.add_argument("--tpm-limit", type=int, default=0,
                        help="tokens per minute (prompt + max_tokens), enforced (0: unlimited)")
    parser.add_argument("--style", choices=STYLES, default="openai",
                        help="rate-limit headers and error bodies like this provider")
    parser.add_argument("--fail-429", type=float, default=0.0, help=f"429s, {_PROBABILITY}")
    parser.add_argument("--fail-5xx", type=float, default=0.0,
                        help=f"500/502/503/524/529, {_PROBABILITY}")
    parser.add_argument("--fail-hang", type=float, default=0.0,
                        help=f"no answer for an hour, {_PROBABILITY}")
    parser.add_argument("--fail-reset", type=float, default=0.0,
                        help=f"connection dropped without a response, {_PROBABILITY}")
    parser.add_argument("--fail-malformed", type=float, default=0.0,
                        help=f"200 with truncated JSON, {_PROBABILITY}")
    parser.add_argument("--fail-200-error", type=float, default=0.0,
                        help=f"OpenRouter-style error inside a 200, {_PROBABILITY}")
    parser.add_argument("--sporadic-429", type=float, default=0.0,
                        help="429s that are no rate limit (OpenRouter's upstream 429, only a "
                        f"Retry-After), {_PROBABILITY}")
    parser.add_argument("--sporadic-429-retry-after-ms", type=int,
                        default=SPORADIC_RETRY_AFTER_MS,
                        help="the wait a sporadic 429 asks for (whole seconds in Retry-After)")
    parser.add_argument("--silent-limits", action="store_true",
                        help="enforced limits answer bare 429s: no rate-limit headers, no "
                        "Retry-After")
    parser.add_argument("--key-limit-usd", type=float, default=None,
                        help="GET /key: the key's credit limit (default: unlimited)")
    parser.add_argument("--key-usage-usd", type=float, default=0.0,
                        help="GET /key: credit already used")
    parser.add_argument("--key-free-tier", action="store_true",
                        help="GET /key: a free-tier key (is_free_tier)")


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """The config the flags describe; UsageError names a bad value."""
    try:
        return SimConfig(
            host=args.host, port=args.port, seed=args.seed, latency_ms=args.latency_ms,
            latency_spread_ms=args.latency_spread_ms, tokens_per_s=args.tokens_per_s,
            rpm_limit=args.rpm_limit, tpm_limit=args.tpm_limit, style=args.style,
            fail_429=args.fail_429, fail_5xx=args.fail_5xx, fail_hang=args.fail_hang,
            fail_reset=args.fail_reset, fail_malformed=args.fail_malformed,
            fail_200_error=args.fail_200_error, sporadic_429=args.sporadic_429,
            sporadic_429_retry_after_ms=args.sporadic_429_retry_after_ms,
            silent_limits=args.silent_limits, key_limit_usd=args.key_limit_usd,
            key_usage_usd=args.key_usage_usd, key_free_tier=args.key_free_tier,
        )
    except ValueError as exc:
        raise UsageError(f"sim: {exc}") from exc


def main(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; the first stdout line is the URL. Returns 0."""
    config = config_from_args(args)
    return asyncio.run(_serve_until_signal(config))


async def _serve_until_signal(config: SimConfig) -> int:
    """Run the server until a signal arrives."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with serve(config) as url:
            print(f"asyncgen sim listening on {url}", flush=True)
            print(f"asyncgen sim: {_summary(config)}", file=sys.stderr, flush=True)
            await stop.wait()
    except OSError as exc:
        raise UsageError(f"sim: cannot listen on {config.host}:{config.port}: {exc}") from exc
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return 0


def _summary(config: SimConfig) -> str:
    """The settings that differ from the defaults, one line."""
    defaults = SimConfig().flags()
    changed = {k: v for k, v in config.flags().items() if v != defaults[k] and k != "port"}
    return " ".join(f"{k}={v}" for k, v in changed.items()) or "default settings"
