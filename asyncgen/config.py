"""The run's configuration: one table of options, read from defaults, a TOML file, then flags.

Every option of `asyncgen run` is declared once in `OPTIONS` (name, type, default, help); the
command line, the TOML file and `RunConfig` all come from that table, so `--help` always shows
the real defaults. Later sources override earlier ones: defaults < `--config FILE.toml` < flags.
"""

from __future__ import annotations

import argparse
import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from asyncgen.errors import UsageError
from asyncgen.llm.params import DEFAULT_PARAMS, STAGES, RequestParams, Stage
from asyncgen.parsing import DEFAULT_BLACKLIST

PROVIDERS = ("sim", "openrouter", "openai", "openai-compatible")
DEFAULT_SEEDS = Path(__file__).resolve().parent.parent / "data" / "seed_tasks.jsonl"


@dataclass(frozen=True, slots=True)
class Option:
    name: str  # field name; the flag is --name-with-dashes
    kind: Callable[[str], Any]
    default: Any
    help: str
    choices: tuple[str, ...] | None = None


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"must be >= 1, got {value}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0 or math.isinf(value):
        raise ValueError(f"must be a finite number >= 0, got {text}")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0 or math.isinf(value):
        raise ValueError(f"must be a finite number > 0, got {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"must be between 0 and 1, got {text}")
    return value


def _words(text: str) -> tuple[str, ...]:
    return tuple(w.strip() for w in text.split(",") if w.strip())


OPTIONS: tuple[Option, ...] = (
    Option("out", Path, None, "output directory (tasks.jsonl, events.jsonl); resumed if it exists"),
    Option("seeds", Path, DEFAULT_SEEDS, "seed tasks in the paper's JSONL schema"),
    Option("target_instructions", _positive_int, 200, "stop after this many committed tasks"),
    Option("provider", str, None, "LLM provider; default: sim when no API key is set",
           choices=PROVIDERS),
    Option("base_url", str, None, "override the provider's base URL (e.g. a vLLM server)"),
    Option("model", str, None, "model name; default: the provider's default model"),
    Option("endpoint", str, "chat", "chat completions or legacy text completions",
           choices=("chat", "completions")),
    Option("transport", str, "aiohttp", "HTTP transport under httpx", choices=("aiohttp", "httpx")),
    Option("max_concurrency", _positive_int, 512,
           "ceiling on requests in flight; below it the number is sized from the rate limit "
           "and the measured latency, or probed when no limit is known"),
    Option("rpm", _non_negative, 0.0, "requests per minute allowed (0 = no limit)"),
    Option("tpm", _non_negative, 0.0, "tokens per minute allowed (0 = no limit)"),
    Option("budget_usd", _non_negative, 0.0, "hard cap on the run's spend in USD (0 = no cap)"),
    Option("price_in", _non_negative, None, "USD per 1M prompt tokens (overrides price table)"),
    Option("price_out", _non_negative, None, "USD per 1M completion tokens"),
    Option("max_duration", _non_negative, 0.0, "stop after this many seconds (0 = no limit)"),
    Option("max_requests", _non_negative, 0.0, "stop after this many requests (0 = no limit)"),
    Option("seed", int, 0, "random seed for prompt sampling"),
    Option("instruction_workers", _positive_int, 16, "instruction-generation workers"),
    Option("classify_workers", _positive_int, 32, "classification workers"),
    Option("instance_workers", _positive_int, 48, "instance-generation workers"),
    Option("queue_size", _positive_int, 64, "capacity of each queue between stages"),
    Option("human_per_prompt", _positive_int, 6, "seed instructions per generation prompt"),
    Option("machine_per_prompt", int, 2, "generated instructions per generation prompt"),
    Option("similarity_threshold", _fraction, 0.7, "reject candidates with ROUGE-L above this"),
    Option("similarity_record_floor", _fraction, 0.5,
           "record pool instructions scoring at least this in most_similar"),
    Option("blacklist", _words, DEFAULT_BLACKLIST,
           "comma-separated words that disqualify an instruction"),
    Option("max_instances", _positive_int, 5, "instances kept per task"),
    Option("timeout", _positive, 60.0, "HTTP timeout per attempt, seconds"),
    Option("max_attempts", _positive_int, 6, "attempts per request, retries included"),
    Option("request_deadline", _positive, 300.0, "total seconds per request, retries included"),
    Option("max_consecutive_failures", int, 50,
           "stop the run after this many failed requests in a row (0 = never)"),
    Option("drain_timeout", _non_negative, 30.0, "seconds to finish in-flight work on stop"),
    Option("progress_interval", _positive, 10.0, "seconds between run.progress events"),
    Option("log_format", str, "human", "console log format", choices=("human", "json", "none")),
)
_BY_NAME = {o.name: o for o in OPTIONS}
_METAVARS: dict[Callable[[str], Any], str] = {
    Path: "PATH", _positive_int: "N", int: "N", str: "TEXT", _words: "WORDS"
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RunConfig:
    out: Path
    seeds: Path
    target_instructions: int
    provider: str | None
    base_url: str | None
    model: str | None
    endpoint: str
    transport: str
    max_concurrency: int
    rpm: float
    tpm: float
    budget_usd: float
    price_in: float | None
    price_out: float | None
    max_duration: float
    max_requests: float
    seed: int
    instruction_workers: int
    classify_workers: int
    instance_workers: int
    queue_size: int
    human_per_prompt: int
    machine_per_prompt: int
    similarity_threshold: float
    similarity_record_floor: float
    blacklist: tuple[str, ...]
    max_instances: int
    timeout: float
    max_attempts: int
    request_deadline: float
    max_consecutive_failures: int
    drain_timeout: float
    progress_interval: float
    log_format: str
    params: Mapping[Stage, RequestParams]

    def __post_init__(self) -> None:
        if not 0.0 < self.similarity_record_floor <= 1.0:
            raise UsageError("--similarity-record-floor must be in (0, 1]")
        if self.max_consecutive_failures < 0:
            raise UsageError("--max-consecutive-failures must be >= 0")
        if self.machine_per_prompt < 0:
            raise UsageError("--machine-per-prompt must be >= 0")
        if self.provider == "openai-compatible" and not self.base_url:
            raise UsageError("--provider openai-compatible needs --base-url")
        if (self.price_in is None) != (self.price_out is None):
            raise UsageError("give both --price-in and --price-out, or neither")

    def public(self) -> dict[str, Any]:
        """The configuration as plain JSON-able values, for run.started (holds no secret)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif f.name == "params":
                value = {stage: p.body() for stage, p in value.items()}
            out[f.name] = value
        return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare every option as a flag; defaults are shown but applied later (after TOML)."""
    parser.add_argument("--config", type=Path, metavar="FILE.toml",
                        help="TOML file with any of these options (flags override it)")
    for option in OPTIONS:
        default = option.default
        if isinstance(default, tuple):
            default = ",".join(default)
        shown = "required" if option.name == "out" else f"default: {default}"
        parser.add_argument(
            "--" + option.name.replace("_", "-"),
            dest=option.name,
            type=_checked(option),
            choices=option.choices,
            default=argparse.SUPPRESS,
            metavar=None if option.choices else _METAVARS.get(option.kind, "X"),
            help=f"{option.help} ({shown})" if default is not None or shown == "required"
            else option.help,
        )


def _checked(option: Option) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return option.kind(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = option.name.replace("_", "-")
    return convert


def _from_toml(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Option values and `[params.<stage>]` tables from a TOML file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read config {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: invalid TOML ({exc})") from None
    params = data.pop("params", {})
    values: dict[str, Any] = {}
    for key, raw in data.items():
        name = key.replace("-", "_")
        option = _BY_NAME.get(name)
        if option is None:
            raise UsageError(f"{path}: unknown option {key!r}")
        try:
            values[name] = _coerce(option, raw)
        except (ValueError, TypeError) as exc:
            raise UsageError(f"{path}: option {key!r}: {exc}") from None
    if not isinstance(params, dict) or set(params) - set(STAGES):
        raise UsageError(f"{path}: [params] takes tables named {', '.join(STAGES)}")
    return values, params


def _coerce(option: Option, raw: Any) -> Any:
    if isinstance(raw, list):
        raw = ",".join(map(str, raw))
    value = option.kind(str(raw))
    if option.choices and value not in option.choices:
        raise ValueError(f"must be one of {', '.join(option.choices)}")
    return value


def build_config(args: argparse.Namespace) -> RunConfig:
    """Defaults, then the TOML file, then flags given on the command line."""
    values = {o.name: o.default for o in OPTIONS}
    params: dict[str, dict[str, Any]] = {}
    if getattr(args, "config", None):
        file_values, params = _from_toml(args.config)
        values.update(file_values)
    values.update({o.name: getattr(args, o.name) for o in OPTIONS if hasattr(args, o.name)})
    if values["out"] is None:
        raise UsageError("--out DIR is required")
    stage_params: dict[Stage, RequestParams] = {}
    for stage in STAGES:
        try:
            stage_params[stage] = DEFAULT_PARAMS[stage].with_overrides(params.get(stage, {}))
        except (ValueError, TypeError) as exc:
            raise UsageError(f"[params.{stage}]: {exc}") from None
    return RunConfig(**values, params=stage_params)
