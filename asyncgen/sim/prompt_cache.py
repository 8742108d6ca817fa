"""The simulated provider's prompt cache, the OpenAI way.

A prompt of at least `MIN_TOKENS` tokens has its prefixes remembered at `MIN_TOKENS`, then
every `STEP_TOKENS` tokens (1024, 1152, 1280, ...). A later prompt of the same model and
endpoint whose first N tokens equal a remembered prefix, seen less than `ttl_s` ago, gets the
longest such N as `cached_tokens`: 0, or 1024 + 128·k, never more than its own prompt. Tokens
are the simulator's (four characters each), so a prefix of N tokens is the first 4·N
characters. Every lookup refreshes the prefixes it saw (an entry lives `ttl_s` after its last
use, as OpenAI's does after "inactivity").

One owner (the server), no locks: the handlers run on one event loop.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable

from asyncgen.sim.generator import CHARS_PER_TOKEN

MIN_TOKENS = 1024
STEP_TOKENS = 128
DEFAULT_TTL_S = 300.0
MAX_ENTRIES = 200_000  # prefixes remembered at most; the least recently used go first


def boundaries(prompt_chars: int) -> range:
    """The prefix lengths, in tokens, that a prompt of this many characters can be cached at."""
    whole_tokens = prompt_chars // CHARS_PER_TOKEN
    return range(MIN_TOKENS, whole_tokens + 1, STEP_TOKENS)


class PromptCache:
    """Recently seen prompt prefixes -> when each was last used."""

    __slots__ = ("ttl_s", "max_entries", "_clock", "_seen", "lookups", "hits", "cached_tokens")

    def __init__(
        self, *, ttl_s: float = DEFAULT_TTL_S, clock: Callable[[], float],
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        if not ttl_s > 0:
            raise ValueError(f"ttl_s must be > 0, got {ttl_s!r}")
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        # digest -> last use, least recently used first
        self._seen: OrderedDict[bytes, float] = OrderedDict()
        self.lookups = 0
        self.hits = 0
        self.cached_tokens = 0

    def __repr__(self) -> str:
        return (
            f"<PromptCache ttl={self.ttl_s:g}s prefixes={len(self._seen)} "
            f"hits={self.hits}/{self.lookups}>"
        )

    def lookup(self, scope: str, prompt: str) -> int:
        """Cached tokens for `prompt` (within `scope`: model and endpoint); remembers it."""
        now = self._clock()
        self._expire(now)
        self.lookups += 1
        cached = 0
        seen = self._seen
        for tokens, digest in _prefix_digests(scope, prompt):
            if digest in seen:  # unexpired: _expire dropped the others
                cached = tokens
                seen.move_to_end(digest)
            seen[digest] = now
        while len(seen) > self.max_entries:
            seen.popitem(last=False)
        if cached:
            self.hits += 1
            self.cached_tokens += cached
        return cached

    def _expire(self, now: float) -> None:
        """Forget the prefixes unused for ttl_s (the oldest are first in the dict)."""
        seen = self._seen
        while seen:
            digest, last = next(iter(seen.items()))
            if now - last < self.ttl_s:
                return
            seen.popitem(last=False)

    def stats(self) -> dict[str, int]:
        """Counters, for GET /sim/stats."""
        return {"lookups": self.lookups, "hits": self.hits, "cached_tokens": self.cached_tokens,
                "prefixes": len(self._seen)}


def _prefix_digests(scope: str, prompt: str) -> list[tuple[int, bytes]]:
    """(tokens, digest of scope + the prompt's first tokens·4 characters) per boundary."""
    out: list[tuple[int, bytes]] = []
    running = hashlib.blake2b(scope.encode() + b"\x00", digest_size=16)
    done = 0
    for tokens in boundaries(len(prompt)):
        end = tokens * CHARS_PER_TOKEN
        running.update(prompt[done:end].encode("utf-8", "surrogatepass"))
        done = end
        out.append((tokens, running.copy().digest()))
    return out
