"""The run's configuration: one typed table of options, read from defaults, a TOML file, flags.

Every option of `asyncgen run` is declared once in `OPTIONS` (name, kind, default, help); the
command line, the TOML file and `RunConfig` all come from that table, so `--help` always shows
the real defaults and every value, from a flag or from TOML, is checked by the same kind. Later
sources override earlier ones: defaults < `--config FILE.toml` < flags.

A kind (`Int`, `Float`, `Choice`, `Text`, `Words`, `Flag`, `OutDir`, `InFile`) parses a flag's
text and checks a TOML value's type, and says what it allows; a bad value is one `UsageError`
line, `--flag: what is wrong (what is allowed)`, raised before anything is written. To add an
option: one `Option(...)` line in `OPTIONS` and one field in `RunConfig`.
"""

from __future__ import annotations

import argparse
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_args

from asyncgen.errors import UsageError
from asyncgen.kinds import (
    Choice,
    Flag,
    Float,
    InFile,
    Int,
    Invalid,
    Kind,
    OutDir,
    Text,
    Words,
    kind_of,
    shown_number,
    writable_dir,
)
from asyncgen.llm.endpoints import EndpointSpec
from asyncgen.llm.params import DEFAULT_PARAMS, STAGES, RequestParams, Stage, defaults_for
from asyncgen.llm.providers import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_REQUEST_DEADLINE_S,
    DEFAULT_TIMEOUT_S,
    DEFAULT_TRANSPORT,
    SIM_MODEL,
    TransportName,
)
from asyncgen.selfinstruct.demos import DEFAULT_DEMOS
from asyncgen.selfinstruct.parsing import DEFAULT_BLACKLIST

PROVIDERS = ("sim", "openrouter", "openai", "openai-compatible")
DEFAULT_SEEDS = Path(__file__).resolve().parent.parent / "data" / "seed_tasks.jsonl"
DEFAULT_MODEL: Mapping[str, str] = {  # what --model defaults to, per provider
    "sim": SIM_MODEL,
    "openai": "gpt-4o-mini",
    "openrouter": "openai/gpt-4o-mini",
}


@dataclass(frozen=True, slots=True)
class Option:
    name: str  # field name; the flag is --name-with-dashes, the TOML key name_with_underscores
    kind: Kind | Callable[[str], Any]
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    shown_default: str | None = None  # the default as --help shows it, if not str(default)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def typed(self) -> Kind:
        return kind_of(self.kind, self.choices)


# Shorthands for the table (and for options others add).
_positive_int = Int(1)
_count = Int(0, note="0 = no limit")
_non_negative = Float(0.0)
_positive = Float(0.0, open_lo=True)
_fraction = Float(0.0, 1.0, open_lo=True)
_workers = Int(1, 10_000)
_stage_ceiling = Int(0, 10_000, note="0 = --max-concurrency")
_seconds = Float(0.0, 1e9, open_lo=True)
_limit_seconds = Float(0.0, 1e9, note="0 = no limit")


FIELDS_MODES = ("exact", "sample")  # --fields
FIELDS_SAMPLE = 5_000  # --fields sample: generated instructions each task is scored against


OPTIONS: tuple[Option, ...] = (
    Option("out", OutDir(), None,
           "output directory (tasks.jsonl, events.jsonl); resumed if it exists"),
    Option("seeds", InFile(), DEFAULT_SEEDS, "seed tasks in the paper's JSONL schema",
           shown_default="the bundled data/seed_tasks.jsonl"),
    Option("demos", InFile(), DEFAULT_DEMOS,
           "few-shot demonstrations of the classification and instance prompts (JSONL)",
           shown_default="the bundled data/demonstrations.jsonl"),
    Option("target_instructions", _positive_int, 200, "stop after this many committed tasks"),
    Option("provider", Choice(PROVIDERS), None,
           "LLM provider; default: openrouter or openai if its API key is set, else sim"),
    Option("base_url", Text("URL"), None, "override the provider's base URL (e.g. a vLLM server)"),
    Option("model", Text("NAME"), None, "model name; default: "
           + ", ".join(f"{m} for {p}" for p, m in DEFAULT_MODEL.items())
           + "; required for openai-compatible"),
    Option("endpoint", Choice(("chat", "completions")), "chat",
           "chat completions or legacy text completions"),
    Option("transport", Choice(get_args(TransportName)), DEFAULT_TRANSPORT,
           "HTTP transport: aiohttp in a courier process that keeps the answers of requests in "
           "flight when the run is killed (courier), aiohttp in the run, or plain httpx; only "
           "the courier keeps them"),
    Option("max_concurrency", _workers, DEFAULT_MAX_CONCURRENCY,
           "ceiling on requests in flight; below it the number is sized from the rate limit "
           "and the measured latency, or probed when no limit is known"),
    Option("fallback_models", Words(most=10), (),
           "OpenRouter: models to fall back to, in order, when the model's providers fail "
           "(sent as `models`)", shown_default="none"),
    Option("rpm", Int(0, 10**9, note="0 = no limit"), 0,
           "requests per minute allowed (0 = no limit)"),
    Option("tpm", Int(0, 10**12, note="0 = no limit"), 0,
           "tokens per minute allowed (0 = no limit)"),
    Option("budget_usd", Float(0.0, 1e9, note="0 = no cap"), 0.0,
           "hard cap on the run's spend in USD (0 = no cap)"),
    Option("price_in", Float(0.0, 1e6), None, "USD per 1M prompt tokens (overrides price table)"),
    Option("price_out", Float(0.0, 1e6), None, "USD per 1M completion tokens"),
    Option("price_cached", Float(0.0, 1e6), None,
           "USD per 1M prompt tokens served from the provider's cache (default: the price "
           "table's; the input price with --price-in)"),
    Option("max_duration", _limit_seconds, 0.0, "stop after this many seconds (0 = no limit)"),
    Option("max_requests", _count, 0, "stop after this many requests (0 = no limit)"),
    Option("seed", Int(), 0, "random seed for prompt sampling"),
    Option("instruction_workers", _stage_ceiling, 0,
           "most instruction-generation requests under way at once (0 = --max-concurrency: "
           "the concurrency window alone decides)"),
    Option("classify_workers", _stage_ceiling, 0,
           "most classification requests under way at once (0 = --max-concurrency)"),
    Option("instance_workers", _stage_ceiling, 0,
           "most instance-generation requests under way at once (0 = --max-concurrency)"),
    Option("queue_size", Int(1, 1_000_000), 64, "capacity of each queue between stages"),
    Option("human_per_prompt", Int(1, 100), 6, "seed instructions per generation prompt"),
    Option("machine_per_prompt", Int(0, 100), 2, "generated instructions per generation prompt"),
    Option("similarity_threshold", _fraction, 0.7, "reject candidates with ROUGE-L above this"),
    Option("blacklist", Words(), DEFAULT_BLACKLIST,
           "comma-separated words that disqualify an instruction"),
    Option("max_instances", Int(1, 1000), 5, "instances kept per task"),
    Option("timeout", _seconds, DEFAULT_TIMEOUT_S, "HTTP timeout per attempt, seconds"),
    Option("max_attempts", Int(1, 1000), DEFAULT_MAX_ATTEMPTS,
           "attempts per request, retries included"),
    Option("request_deadline", _seconds, DEFAULT_REQUEST_DEADLINE_S,
           "total seconds per request, retries included"),
    Option("max_consecutive_failures", Int(0, note="0 = never"), 50,
           "stop the run after this many failed requests in a row (0 = never)"),
    Option("stuck_after", Int(0, note="0 = never"), 200,
           "stop the run (reason stuck, exit 1) after this many generation responses in a row "
           "admitted no new instruction (0 = never)"),
    Option("drain_timeout", Float(0.0, 1e9), 30.0, "seconds to finish in-flight work on stop"),
    Option("progress_interval", Float(0.01, 1e9), 10.0, "seconds between run.progress events"),
    Option("log_format", Choice(("human", "json", "none")), "human",
           "console log format (json: one JSON object per line on stdout)"),
    Option("event_detail", Choice(("lean", "full")), "lean",
           "events.jsonl: lean (per-request and per-candidate events without what report never "
           "reads: no candidate texts, rejections before any spend counted per reason; the "
           "same report figures) or full (every candidate with its text, the nearest pool "
           "instruction of a rejected one)"),
    Option("fields", Choice(FIELDS_MODES), "exact",
           "similarity fields of each task (most_similar, avg_similarity_score, "
           "most_similar_seed): exact, against the whole pool, or sample: estimated once the "
           f"pool holds over {FIELDS_SAMPLE:,} generated instructions, against every seed and "
           f"{FIELDS_SAMPLE:,} generated ones drawn at random (best seed exact; mean with its "
           "standard error; top 10 of the sample), marked \"fields\": \"sample\" in the line"),
    Option("batch", Flag(), False, "send a stage's requests through the provider's Batch API "
           "where they cost less there than live, measured with the cached share each gets "
           "(see --batch-stages; OUT/batches.jsonl journals them)"),
    Option("batch_stages", Choice(("auto", "all")), "auto",
           "batch mode: auto (each stage by its measured cost per request) or all (every "
           "stage through the Batch API)"),
    Option("batch_size", Int(1, 50_000), 1000, "batch mode: requests per batch at most"),
    Option("batch_max_wait", Float(0.0, 1e9), 10.0,
           "batch mode: seconds a request may wait for its batch to fill before it is sent"),
    Option("batch_poll_interval", Float(0.01, 1e9), 5.0,
           "batch mode: seconds between status polls"),
    Option("batch_discount", Float(0.0, 0.99), None,
           "batch mode: batch price = live price x (1 - this) (default: the provider's, 0.5)"),
    Option("batch_retry", Choice(("batch", "live")), "batch",
           "batch mode: send expired or failed lines again in a new batch, or live"),
    Option("allow_changes", Flag(), False,
           "resume an --out made with other settings that change the data (provider, model, "
           "a stage's model, endpoint, similarity threshold, seeds or demos file contents); the "
           "change is recorded"),
)
_BY_NAME = {o.name: o for o in OPTIONS}

# `[routing]` keys in TOML: OpenRouter's `provider` routing object, passed through as given.
QUANTIZATIONS = ("int4", "int8", "fp4", "fp6", "fp8", "fp16", "bf16", "fp32", "unknown")
ROUTING: Mapping[str, Kind] = {
    "order": Words(most=50),
    "allow_fallbacks": Flag(),
    "require_parameters": Flag(),
    "data_collection": Choice(("allow", "deny")),
    "zdr": Flag(),
    "enforce_distillable_text": Flag(),
    "only": Words(most=50),
    "ignore": Words(most=50),
    "quantizations": Words(most=len(QUANTIZATIONS)),
    "sort": Choice(("price", "throughput", "latency")),
}
MAX_PRICE_KEYS = ("prompt", "completion", "request", "image")  # USD per 1M tokens / per unit


def _routing(path: Path, raw: object) -> dict[str, Any]:
    """A checked `[routing]` table (tuples as lists, ready to send)."""
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: [routing] must be a table (OpenRouter's provider routing)")
    routing: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"{path}: [routing] {key}"
        if key == "max_price":
            if not isinstance(value, dict) or set(value) - set(MAX_PRICE_KEYS):
                raise UsageError(f"{where}: a table of {', '.join(MAX_PRICE_KEYS)} (USD)")
            price = Float(0.0, 1e6)
            try:
                routing[key] = {k: price.check(v) for k, v in value.items()}
            except Invalid as exc:
                raise _invalid(where, price, exc) from None
            continue
        kind = ROUTING.get(key)
        if kind is None:
            raise UsageError(f"{where}: unknown routing field (one of "
                             f"{', '.join([*ROUTING, 'max_price'])})")
        try:
            checked = kind.check(value)
        except Invalid as exc:
            raise _invalid(where, kind, exc) from None
        if key == "quantizations" and set(checked) - set(QUANTIZATIONS):
            raise UsageError(f"{where}: one of {', '.join(QUANTIZATIONS)}")
        routing[key] = list(checked) if isinstance(checked, tuple) else checked
    return routing


# `[[endpoints]]` keys in TOML (asyncgen.llm.endpoints.EndpointSpec).
ENDPOINT_KEYS: Mapping[str, Kind] = {
    "name": Text("NAME"),
    "provider": Choice(("openai", "openrouter", "openai-compatible")),
    "base_url": Text("URL"),
    "api_key_env": Text("NAME"),
    "models": Words(most=50),
    "rpm": Int(0, 10**9, note="0 = learnt from headers, else probed"),
    "tpm": Int(0, 10**12, note="0 = no limit"),
    "price_in": Float(0.0, 1e6),
    "price_out": Float(0.0, 1e6),
    "price_cached": Float(0.0, 1e6),
}

# `[stages.<stage>]` keys in TOML: what a stage has of its own (its model: every request of the
# stage names it; RequestParams.model carries it).
STAGE_KEYS: Mapping[str, Kind] = {"model": Text("NAME")}

# `[params.<stage>]` keys in TOML, checked like options (RequestParams checks again).
PARAMS: Mapping[str, Kind] = {
    "temperature": Float(0.0, 2.0),
    "top_p": Float(0.0, 1.0, open_lo=True),
    "presence_penalty": Float(-2.0, 2.0),
    "frequency_penalty": Float(-2.0, 2.0),
    "max_tokens": Int(1, 1_000_000),
    "stop": Words(most=4, blank_ok=True),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RunConfig:
    out: Path
    seeds: Path
    demos: Path
    target_instructions: int
    provider: str | None
    base_url: str | None
    model: str | None
    endpoint: str
    transport: str
    max_concurrency: int
    rpm: int
    tpm: int
    budget_usd: float
    price_in: float | None
    price_out: float | None
    price_cached: float | None
    max_duration: float
    max_requests: int
    seed: int
    instruction_workers: int
    classify_workers: int
    instance_workers: int
    queue_size: int
    human_per_prompt: int
    machine_per_prompt: int
    similarity_threshold: float
    blacklist: tuple[str, ...]
    max_instances: int
    timeout: float
    max_attempts: int
    request_deadline: float
    max_consecutive_failures: int
    stuck_after: int
    drain_timeout: float
    progress_interval: float
    log_format: str
    event_detail: str = "lean"
    fields: str = "exact"
    batch: bool = False
    batch_size: int = 1000
    batch_max_wait: float = 10.0
    batch_poll_interval: float = 5.0
    batch_discount: float | None = None
    batch_retry: str = "batch"
    batch_stages: str = "auto"
    fallback_models: tuple[str, ...] = ()
    routing: Mapping[str, Any] = field(default_factory=dict)
    endpoints: tuple[EndpointSpec, ...] = ()  # TOML [[endpoints]]: a pool of endpoints
    allow_changes: bool = False
    params: Mapping[Stage, RequestParams] = field(default_factory=lambda: dict(DEFAULT_PARAMS))

    def __post_init__(self) -> None:
        """Checks across options (each option alone was checked by its kind)."""
        if self.provider == "openai-compatible" and not self.base_url:
            raise UsageError("--provider openai-compatible needs --base-url URL")
        if (self.price_in is None) != (self.price_out is None):
            raise UsageError("--price-in/--price-out: give both, or neither")

    def public(self) -> dict[str, Any]:
        """The configuration as plain JSON-able values, for run.started (holds no secret)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif f.name == "params":
                value = {stage: p.body() for stage, p in value.items()}
            elif f.name == "endpoints":
                value = [endpoint.public() for endpoint in value]
            out[f.name] = value
        return out


# --- the command line and the TOML file --------------------------------------------------------


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, except that a no-break space (U+00A0) is not a line break."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        import textwrap  # only for --help

        text = " ".join(text.replace("\xa0", "\0").split()).replace("\0", "\xa0")
        return [line.replace("\xa0", " ") for line in textwrap.wrap(text, width)]


def _help(option: Option) -> str:
    if option.name == "out":
        return f"{option.help} (required)"
    if option.shown_default is not None:
        shown = option.shown_default
    elif option.default is None:
        return option.help
    elif isinstance(option.default, tuple):
        shown = ", ".join(w.replace(" ", "\xa0") for w in option.default)
    elif isinstance(option.default, bool):
        shown = "on" if option.default else "off"
    elif isinstance(option.default, float):
        shown = shown_number(option.default)
    else:
        shown = str(option.default)
    return f"{option.help} (default: {shown})"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare every option as a flag; values are parsed and defaults applied later (after TOML).

    Flags keep their text: `build_config` parses it with the option's kind, so flags and TOML
    values give the same one-line errors.
    """
    parser.add_argument("--config", metavar="FILE.toml",
                        help="TOML file with any of these options (flags override it)")
    for option in OPTIONS:
        kind = option.typed
        if isinstance(kind, Flag):
            parser.add_argument(option.flag, dest=option.name, help=_help(option),
                                action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS)
        else:
            parser.add_argument(option.flag, dest=option.name, help=_help(option),
                                metavar=kind.metavar, default=argparse.SUPPRESS)


def argument_type(kind: Kind) -> Callable[[str], Any]:
    """A kind as an argparse `type=`, for commands that let argparse convert (sim, report)."""

    def convert(text: str) -> Any:
        try:
            return kind.parse(text)
        except Invalid as exc:
            raise argparse.ArgumentTypeError(f"{exc} ({kind.allowed()})") from None

    convert.__name__ = type(kind).__name__.lower()
    return convert


def _invalid(where: str, kind: Kind, exc: Invalid) -> UsageError:
    return UsageError(f"{where}: {exc} ({kind.allowed()})")


def _endpoints(path: Path, raw: object) -> tuple[EndpointSpec, ...]:
    """Checked `[[endpoints]]` tables (each field as ENDPOINT_KEYS says; names unique)."""
    if not isinstance(raw, list) or not raw or not all(isinstance(t, dict) for t in raw):
        raise UsageError(f"{path}: endpoints must be [[endpoints]] tables")
    specs: list[EndpointSpec] = []
    for number, table in enumerate(raw, 1):
        where = f"{path}: [[endpoints]] #{number}"
        if "name" not in table:
            raise UsageError(f"{where}: needs a name")
        checked: dict[str, Any] = {}
        for key, value in table.items():
            kind = ENDPOINT_KEYS.get(key)
            if kind is None:
                raise UsageError(f"{where}: unknown key {key!r} (one of "
                                 f"{', '.join(ENDPOINT_KEYS)})")
            try:
                checked[key] = kind.check(value)
            except Invalid as exc:
                raise _invalid(f"{where} {key}", kind, exc) from None
        where = f"{path}: [[endpoints]] {checked['name']!r}"
        if any(spec.name == checked["name"] for spec in specs):
            raise UsageError(f"{where}: a second endpoint of that name")
        url = checked.get("base_url")
        if url is not None and not url.startswith(("http://", "https://")):
            raise UsageError(f"{where} base_url: {url!r} must start with http:// or https://")
        if url is None and checked.get("provider", "openai-compatible") == "openai-compatible":
            raise UsageError(f"{where}: provider openai-compatible needs a base_url")
        variable = checked.get("api_key_env")
        if variable is not None and not variable.replace("_", "a").isalnum():
            raise UsageError(f"{where} api_key_env: {variable!r} is not an environment "
                             "variable's name (the NAME of the variable holding the key)")
        if ("price_in" in checked) != ("price_out" in checked):
            raise UsageError(f"{where}: price_in and price_out go together")
        specs.append(EndpointSpec(**checked))
    return tuple(specs)


def _stages(path: Path, raw: object) -> dict[str, dict[str, Any]]:
    """Checked `[stages.<stage>]` tables (`model`), as request parameters per stage."""
    if not isinstance(raw, dict) or set(raw) - set(STAGES) or not all(
        isinstance(table, dict) for table in raw.values()
    ):
        raise UsageError(f"{path}: [stages] takes tables named {', '.join(STAGES)}")
    stages: dict[str, dict[str, Any]] = {}
    for stage, table in raw.items():
        stages[stage] = {}
        for key, value in table.items():
            kind = STAGE_KEYS.get(key)
            if kind is None:
                raise UsageError(f"{path}: [stages.{stage}] unknown key {key!r} "
                                 f"(one of {', '.join(STAGE_KEYS)})")
            try:
                stages[stage][key] = kind.check(value)
            except Invalid as exc:
                raise _invalid(f"{path}: [stages.{stage}] {key}", kind, exc) from None
    return stages


def _from_toml(path: Path) -> tuple[dict[str, Any], dict[str, str], dict[str, dict[str, Any]]]:
    """Option values, where each came from, and checked `[params.<stage>]` tables (with the
    `[stages.<stage>]` model merged in)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"--config: cannot read {str(path)!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text (a TOML file)") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: invalid TOML ({exc})") from None
    params_raw = data.pop("params", {})
    stages = _stages(path, data.pop("stages", {}))
    values: dict[str, Any] = {}
    if "routing" in data:
        values["routing"] = _routing(path, data.pop("routing"))
    if "endpoints" in data:
        values["endpoints"] = _endpoints(path, data.pop("endpoints"))
    where: dict[str, str] = {}
    for key, raw in data.items():
        option = _BY_NAME.get(key.replace("-", "_"))
        if option is None:
            raise UsageError(f"{path}: unknown option {key!r} (the flags' names, e.g. "
                             "target_instructions)")
        kind = option.typed
        where[option.name] = f"{path}: {key}"
        try:
            values[option.name] = kind.check(raw)
        except Invalid as exc:
            raise _invalid(where[option.name], kind, exc) from None
    if not isinstance(params_raw, dict) or set(params_raw) - set(STAGES) or not all(
        isinstance(table, dict) for table in params_raw.values()
    ):
        raise UsageError(f"{path}: [params] takes tables named {', '.join(STAGES)}")
    params: dict[str, dict[str, Any]] = {}
    for stage, table in params_raw.items():
        params[stage] = {}
        for key, raw in table.items():
            kind_or_none = PARAMS.get(key)
            if key in STAGE_KEYS:
                raise UsageError(f"{path}: [params.{stage}] {key}: goes in [stages.{stage}]")
            if kind_or_none is None:
                if key in RequestParams.__dataclass_fields__:  # checked by RequestParams
                    params[stage][key] = raw
                    continue
                raise UsageError(f"{path}: [params.{stage}] unknown parameter {key!r} "
                                 f"(one of {', '.join(RequestParams.__dataclass_fields__)})")
            try:
                params[stage][key] = kind_or_none.check(raw)
            except Invalid as exc:
                raise _invalid(f"{path}: [params.{stage}] {key}", kind_or_none, exc) from None
    for stage, table in stages.items():
        params.setdefault(stage, {}).update(table)
    return values, where, params


def build_config(args: argparse.Namespace) -> RunConfig:
    """Defaults, then the TOML file, then flags given on the command line; all checked."""
    values = {o.name: o.default for o in OPTIONS}
    where = {o.name: o.flag for o in OPTIONS}
    params: dict[str, dict[str, Any]] = {}
    config_file = getattr(args, "config", None)
    if config_file is not None:
        if not str(config_file).strip():
            raise UsageError("--config: is empty (a TOML file)")
        file_values, file_where, params = _from_toml(Path(config_file))
        values.update(file_values)
        where.update(file_where)
    for option in OPTIONS:
        if not hasattr(args, option.name):
            continue
        raw = getattr(args, option.name)
        kind = option.typed
        where[option.name] = option.flag
        try:
            values[option.name] = kind.parse(raw) if isinstance(raw, str) else raw
        except Invalid as exc:
            raise _invalid(option.flag, kind, exc) from None
    if values["out"] is None:
        raise UsageError("--out DIR is required")
    for option in OPTIONS:
        kind = option.typed
        if isinstance(kind, OutDir) and values[option.name] is not None:
            try:
                writable_dir(values[option.name], deep=kind.deep)
            except Invalid as exc:
                raise _invalid(where[option.name], kind, exc) from None
    stage_params: dict[Stage, RequestParams] = {}
    defaults = defaults_for(values["endpoint"])
    for stage in STAGES:
        try:
            stage_params[stage] = defaults[stage].with_overrides(params.get(stage, {}))
        except (ValueError, TypeError) as exc:
            raise UsageError(f"{config_file}: [params.{stage}] {exc}") from None
    return RunConfig(**values, params=stage_params)
