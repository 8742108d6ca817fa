"""`asyncgen sim`: flags, and running the server until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys
import threading
from dataclasses import fields
from pathlib import Path

from asyncgen.config import argument_type
from asyncgen.errors import UsageError
from asyncgen.kinds import Float, Int
from asyncgen.sim.books import Books
from asyncgen.sim.chat import CHAT_FORMATS, PLAIN
from asyncgen.sim.config import (
    BATCH_DELAY_S,
    BATCH_DISCOUNT,
    PRICE_CACHED_PER_M,
    PRICE_IN_PER_M,
    PRICE_OUT_PER_M,
    PROMPT_CACHE_TTL_S,
    SPORADIC_RETRY_AFTER_MS,
    STYLES,
    SimConfig,
)
from asyncgen.sim.server import serve

_PROBABILITY = "probability in [0, 1]"
_INT = argument_type(Int(0))
_MS = argument_type(Float(0.0, 1e9))
_P = argument_type(Float(0.0, 1.0))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `sim` subcommand's flags."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=argument_type(Int(0, 65535)), default=0,
                        help="port (0: a free port)")
    parser.add_argument("--seed", type=argument_type(Int()), default=0,
                        help="same seed + prompt = same answer")
    parser.add_argument("--latency-ms", type=_MS, default=0.0, help="added to each response")
    parser.add_argument("--latency-spread-ms", type=_MS, default=0.0,
                        help="latency is uniform in latency ± spread")
    parser.add_argument("--tokens-per-s", type=_MS, default=0.0,
                        help="output speed; adds completion_tokens/tokens_per_s (0: instant)")
    parser.add_argument("--rpm-limit", type=_INT, default=0,
                        help="requests per minute, enforced with 429 (0: unlimited)")
    parser.add_argument("--tpm-limit", type=_INT, default=0,
                        help="tokens per minute (prompt + max_tokens), enforced (0: unlimited)")
    parser.add_argument("--style", choices=STYLES, default="openai",
                        help="rate-limit headers and error bodies like this provider")
    parser.add_argument("--fail-429", type=_P, default=0.0, help=f"429s, {_PROBABILITY}")
    parser.add_argument("--fail-5xx", type=_P, default=0.0,
                        help=f"500/502/503/524/529, {_PROBABILITY}")
    parser.add_argument("--fail-hang", type=_P, default=0.0,
                        help=f"no answer for an hour, {_PROBABILITY}")
    parser.add_argument("--fail-reset", type=_P, default=0.0,
                        help=f"connection dropped without a response, {_PROBABILITY}")
    parser.add_argument("--fail-malformed", type=_P, default=0.0,
                        help=f"200 with truncated JSON, {_PROBABILITY}")
    parser.add_argument("--fail-200-error", type=_P, default=0.0,
                        help=f"OpenRouter-style error inside a 200, {_PROBABILITY}")
    parser.add_argument("--sporadic-429", type=_P, default=0.0,
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
    parser.add_argument("--batch-delay-s", type=float, default=BATCH_DELAY_S,
                        help="Batch API: seconds from validating to completed")
    parser.add_argument("--batch-discount", type=float, default=BATCH_DISCOUNT,
                        help="Batch API: lines cost the live price times (1 - this)")
    parser.add_argument("--batch-cache", action="store_true",
                        help="Batch API: serve lines' prompt prefixes from the prompt cache "
                        "(at the cached price, discounted), as Anthropic does; off: OpenAI's "
                        "way, which does not promise it")
    parser.add_argument("--batch-fail", type=float, default=0.0,
                        help=f"Batch API: a batch fails validation, {_PROBABILITY}")
    parser.add_argument("--batch-expire", type=float, default=0.0,
                        help=f"Batch API: a batch expires half done, {_PROBABILITY}")
    parser.add_argument("--batch-line-error", type=float, default=0.0,
                        help=f"Batch API: a line ends in a 500 (error file), {_PROBABILITY}")
    parser.add_argument("--batch-page-size", type=int, default=100,
                        help="OpenRouter's Batch API: results per page of GET "
                        "batches/{id}/results; a batch with more lines has no inline results "
                        "(default: %(default)s)")
    parser.add_argument("--price-in", type=float, default=PRICE_IN_PER_M,
                        help="USD per 1M uncached prompt tokens billed (default: %(default)s)")
    parser.add_argument("--price-out", type=float, default=PRICE_OUT_PER_M,
                        help="USD per 1M completion tokens billed (default: %(default)s)")
    parser.add_argument("--price-cached", type=float, default=PRICE_CACHED_PER_M,
                        help="USD per 1M prompt tokens served from the prompt cache "
                        "(default: %(default)s)")
    parser.add_argument("--no-prompt-cache", dest="prompt_cache", action="store_false",
                        help="no prompt caching (by default prefixes of >= 1024 tokens are "
                        "cached in 128-token steps, as OpenAI does)")
    parser.add_argument("--prompt-cache-ttl", type=float, default=PROMPT_CACHE_TTL_S,
                        help="seconds a cached prefix lives after its last use "
                        "(default: %(default)s)")
    parser.add_argument("--no-usage-cost", dest="usage_cost", action="store_false",
                        help="usage without OpenRouter's `cost` (tokens only, as OpenAI "
                        "answers): the client must price the tokens itself")
    parser.add_argument("--books", type=Path, default=None, metavar="PATH",
                        help="append one JSON line per billed request to PATH (the "
                        "simulator's own books; totals at GET /sim/books)")
    parser.add_argument("--exit-with-stdin", action="store_true",
                        help="exit when stdin reaches end of file: started with a pipe as "
                        "stdin, the simulator dies with the process that holds its other end")
    parser.add_argument("--stuck", action="store_true",
                        help="a provider stuck repeating itself: every generation answer is the "
                        "same two instructions, every instance answer fails the filters")
    parser.add_argument("--chat-format", choices=CHAT_FORMATS, default=PLAIN,
                        help="how generation answers are written: plain (the paper's numbered "
                        "continuation), a chat model's list style (preamble, titles, task, "
                        "bullets, headings, spaced), or random (a chat style drawn per answer)")


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
            price_in=args.price_in,
            price_out=args.price_out, price_cached=args.price_cached,
            prompt_cache=args.prompt_cache, prompt_cache_ttl_s=args.prompt_cache_ttl,
            usage_cost=args.usage_cost,
            batch_delay_s=args.batch_delay_s, batch_discount=args.batch_discount,
            batch_cache=args.batch_cache,
            batch_fail=args.batch_fail, batch_expire=args.batch_expire,
            batch_line_error=args.batch_line_error, batch_page_size=args.batch_page_size,
            stuck=args.stuck,
            chat_format=args.chat_format,
        )
    except ValueError as exc:
        raise UsageError(_flags_named(str(exc))) from None


def _flags_named(message: str) -> str:
    """A SimConfig message with its field names written as the flags that set them."""
    for f in fields(SimConfig):
        message = re.sub(rf"\b{f.name}\b", "--" + f.name.replace("_", "-"), message)
    return message.replace("fault probabilities", "--fail-* probabilities")


def main(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; the first stdout line is the URL. Returns 0."""
    config = config_from_args(args)
    books_path: Path | None = args.books
    if books_path is not None and (books_path.is_dir() or not books_path.parent.is_dir()):
        raise UsageError(f"sim: --books {books_path}: not a file in an existing directory")
    try:
        books = Books(books_path)
    except OSError as exc:
        raise UsageError(f"sim: --books {books_path}: cannot open ({exc.strerror})") from exc
    return asyncio.run(_serve_until_signal(config, books, exit_with_stdin=args.exit_with_stdin))


async def _serve_until_signal(config: SimConfig, books: Books, *,
                              exit_with_stdin: bool = False) -> int:
    """Run the server until a signal arrives (or stdin closes, with `exit_with_stdin`)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if exit_with_stdin:
        _watch_stdin(loop, stop)
    try:
        async with serve(config, books=books) as url:
            print(f"asyncgen sim listening on {url}", flush=True)
            print(f"asyncgen sim: {_summary(config)}", file=sys.stderr, flush=True)
            await stop.wait()
    except OSError as exc:
        raise UsageError(f"sim: cannot listen on {config.host}:{config.port}: {exc}") from exc
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return 0


def _watch_stdin(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Set `stop` when stdin reaches end of file: its writer exited, kill -9 included (the
    kernel closes the pipe). A thread, because a blocking read works on every platform."""

    def read_to_eof() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        try:
            loop.call_soon_threadsafe(stop.set)
        except RuntimeError:  # the loop has already closed: the simulator is exiting anyway
            pass

    threading.Thread(target=read_to_eof, name="stdin-eof", daemon=True).start()


def _summary(config: SimConfig) -> str:
    """The settings that differ from the defaults, one line."""
    defaults = SimConfig().flags()
    changed = {k: v for k, v in config.flags().items() if v != defaults[k] and k != "port"}
    return " ".join(f"{k}={v}" for k, v in changed.items()) or "default settings"
