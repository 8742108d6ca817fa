"""Options come from one table: defaults < TOML file < flags, and bad values name themselves.

The bad-input table runs the real command-line entry (`cli.main`) in-process, and a few rows as
real subprocesses: each must exit 2 with one short line on stderr, no traceback, and nothing
written in `--out`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from asyncgen import cli, config, kinds
from asyncgen.errors import UsageError

from .conftest import OUR_SEEDS


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    config.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_defaults_are_the_papers() -> None:
    cfg = config.build_config(_parse("--out", "o"))
    assert cfg.human_per_prompt == 6 and cfg.machine_per_prompt == 2
    assert cfg.similarity_threshold == 0.7
    assert cfg.params["instructions"].temperature == 0.7
    # the chat endpoint (the default) does not stop at a blank line (issue 21); completions do
    assert cfg.params["instructions"].stop == ("\n16", "16.", "16 .")
    completions = config.build_config(_parse("--out", "o", "--endpoint", "completions"))
    assert completions.params["instructions"].stop == ("\n\n", "\n16", "16.", "16 .")
    assert cfg.params["classify"].max_tokens == 3
    assert cfg.params["instances"].presence_penalty == 1.5
    assert "go to" in cfg.blacklist


def test_a_blank_line_stop_sequence_from_toml_is_kept(tmp_path: Path) -> None:
    """`stop = ["\\n\\n", ...]` (the README's example) was silently cut to three sequences."""
    toml = tmp_path / "run.toml"
    toml.write_text('[params.instructions]\nstop = ["\\n\\n", "\\n16", "16.", "16 ."]\n')
    cfg = config.build_config(_parse("--out", str(tmp_path / "o"), "--config", str(toml)))
    assert cfg.params["instructions"].stop == ("\n\n", "\n16", "16.", "16 .")


def test_flags_override_toml_which_overrides_defaults(tmp_path: Path) -> None:
    toml = tmp_path / "run.toml"
    toml.write_text(
        'out = "from-file"\nrpm = 600\nmodel = "m-file"\nblacklist = ["a", "b"]\n'
        "[params.instances]\nmax_tokens = 500\nstop = ['END']\n"
    )
    cfg = config.build_config(_parse("--config", str(toml), "--model", "m-flag"))
    assert cfg.out == Path("from-file")
    assert cfg.rpm == 600
    assert cfg.model == "m-flag"
    assert cfg.blacklist == ("a", "b")
    assert cfg.params["instances"].max_tokens == 500
    assert cfg.params["instances"].stop == ("END",)
    assert cfg.params["instances"].presence_penalty == 1.5


def test_extreme_valid_values_are_accepted() -> None:
    cfg = config.build_config(_parse(
        "--out", "o", "--seed", str(2**63 - 1), "--max-requests", str(2**63 - 1),
        "--rpm", "1000000000", "--similarity-threshold", "1", "--timeout", "1e9",
        "--seed", "-9223372036854775808",
    ))
    assert cfg.seed == -(2**63) and cfg.max_requests == 2**63 - 1 and cfg.timeout == 1e9


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        (kinds.Int(0, 10), ("0", " 10 "), ("-1", "11", "2.5", "1e3", "", "x")),
        (kinds.Int(), (str(2**63 - 1),), (str(2**63), "99999999999999999999")),
        (kinds.Float(0.0, 1.0, open_lo=True), ("1", "1e-9"), ("0", "1.1", "nan", "inf", "-0")),
        (kinds.Choice(("a", "b")), ("a",), ("c", "A", "")),
        (kinds.Text(), ("m",), ("", "  ", "a\nb")),
    ],
)
def test_kinds_parse_text(kind: config.Kind, good: tuple[str, ...], bad: tuple[str, ...]) -> None:
    for text in good:
        kind.parse(text)
    for text in bad:
        with pytest.raises(kinds.Invalid):
            kind.parse(text)


@pytest.mark.parametrize(
    ("kind", "bad"),
    [
        (kinds.Int(), (True, 2.5, "5", [1])),
        (kinds.Float(), (True, "0.5", float("nan"), float("inf"))),
        (kinds.Words(), (True, 5, [1, "a"], {"a": 1})),
        (kinds.Text(), (5, ["sim"], False)),
        (kinds.Flag(), (1, "true")),
        (kinds.OutDir(), (5, "")),
    ],
)
def test_kinds_check_toml_types(kind: config.Kind, bad: tuple[object, ...]) -> None:
    for raw in bad:
        with pytest.raises(kinds.Invalid):
            kind.check(raw)


def test_help_is_readable(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "default: sim-1 for sim" in text  # --model names the default model
    assert "stop after this many requests (0 = no limit) (default: 0)" in text
    assert "plot, go to)" in text  # the blacklist wraps between words, not inside them


# --- bad inputs: one line, exit 2, nothing written --------------------------------------------


def _seeds(tmp_path: Path, text: str) -> str:
    path = tmp_path / "seeds.jsonl"
    path.write_text(text)
    return str(path)


def _seed(n: int, *, instances: bool = True, instruction: str | None = None) -> str:
    inst = [{"input": "", "output": f"answer {n}"}] if instances else []
    return json.dumps({"id": f"s{n}", "name": f"t{n}", "instruction": instruction or
                       f"Write task number {n} in words.", "instances": inst,
                       "is_classification": False})


def _toml(tmp_path: Path, text: str) -> str:
    path = tmp_path / "run.toml"
    path.write_text(text)
    return str(path)


FIVE = "\n".join(_seed(n) for n in range(5)) + "\n"
# (argv after `run --out OUT` (or a whole argv starting with a command), expected text)
BAD: list[tuple[str, list[str] | object, str]] = [
    ("seed-64-bit", ["--seed", "99999999999999999999"], "--seed: 99999999999999999999 is out of"),
    ("rpm-huge", ["--rpm", "1e308"], "--rpm: '1e308' is not an integer"),
    ("rpm-range", ["--rpm", "10000000000"], "--rpm: 10000000000 is out of range"),
    ("budget-inf", ["--budget-usd", "inf"], "--budget-usd: inf is not a finite number"),
    ("threshold-0", ["--similarity-threshold", "0"], "--similarity-threshold: 0 is out of range"),
    ("floor-gone", ["--similarity-record-floor", "0.5"],
     "unrecognized arguments: --similarity-record-floor"),
    ("max-requests-2.5", ["--max-requests", "2.5"], "--max-requests: '2.5' is not an integer"),
    ("not-an-int", ["--target-instructions", "abc"], "'abc' is not an integer (an integer >= 1)"),
    ("timeout-nan", ["--timeout", "nan"], "--timeout: nan is not a finite number"),
    ("workers-huge", ["--instance-workers", "100000000"], "--instance-workers: 100000000 is out"),
    ("choice", ["--endpoint", "chatty"], "--endpoint: 'chatty' is not a choice (one of chat"),
    ("prefix", ["--target", "5"], "unrecognized arguments: --target 5"),
    ("missing-value", ["--seed"], "--seed: expected one argument"),
    ("empty-model", ["--model", ""], "--model: is empty"),
    ("compatible", ["--provider", "openai-compatible"], "needs --base-url"),
    ("one-price", ["--price-in", "1"], "--price-in/--price-out: give both"),
    ("out-empty", ["--out", ""], "--out: is empty"),
    ("out-under-file", lambda t: ["--out", str(OUR_SEEDS / "x")], "which is not a directory"),
    ("out-is-file", lambda t: ["--out", str(OUR_SEEDS)], "exists and is not a directory"),
    ("no-seeds-file", lambda t: ["--seeds", str(t / "none.jsonl")], "--seeds: cannot read"),
    ("seeds-array", lambda t: ["--seeds", _seeds(t, "[" + _seed(1) + "]")],
     "seeds.jsonl:1: a JSON array; the seed file must be JSONL, one object per line"),
    ("seeds-dup-id", lambda t: ["--seeds", _seeds(t, FIVE + _seed(2, instruction="Other.") + "\n")],
     "seeds.jsonl:6: duplicate seed id 's2' (first on line 3)"),
    ("seeds-dup-text", lambda t: ["--seeds", _seeds(
        t, FIVE + _seed(9, instruction="write task  number 1 in words.") + "\n")],
     "seeds.jsonl:6: duplicate seed instruction (first on line 2)"),
    ("seeds-no-instances", lambda t: ["--seeds", _seeds(t, FIVE + _seed(7, instances=False))],
     "seeds.jsonl:6: seed 's7' has no instances"),
    ("seeds-too-few", lambda t: ["--seeds", _seeds(t, FIVE)],
     "seeds.jsonl:5: 5 seed task(s), fewer than the 6 a prompt needs (--human-per-prompt)"),
    ("seeds-not-json", lambda t: ["--seeds", _seeds(t, "{nope\n")], "seeds.jsonl:1: not valid"),
    ("toml-missing", lambda t: ["--config", str(t / "none.toml")], "--config: cannot read"),
    ("toml-bad", lambda t: ["--config", _toml(t, "out = [\n")], "run.toml: invalid TOML"),
    ("toml-unknown", lambda t: ["--config", _toml(t, "nope = 1\n")], "unknown option 'nope'"),
    ("toml-blacklist-bool", lambda t: ["--config", _toml(t, "blacklist = true\n")],
     "run.toml: blacklist: true is a boolean, not a list of strings"),
    ("toml-out-int", lambda t: ["--config", _toml(t, "out = 5\n")],
     "run.toml: out: 5 is an integer, not a path string"),
    ("toml-provider-list", lambda t: ["--config", _toml(t, 'provider = ["sim"]\n')],
     "run.toml: provider: ['sim'] is a list, not a string"),
    ("toml-rpm", lambda t: ["--config", _toml(t, "rpm = -5\n")], "run.toml: rpm: -5 is out of"),
    ("toml-float-for-int", lambda t: ["--config", _toml(t, "max_requests = 2.5\n")],
     "run.toml: max_requests: 2.5 is a number, not an integer"),
    ("toml-params-type", lambda t: ["--config", _toml(
        t, '[params.classify]\ntemperature = "hot"\n')],
     "run.toml: [params.classify] temperature: 'hot' is a string, not a number (a number from"),
    ("toml-params-range", lambda t: ["--config", _toml(t, "[params.classify]\ntop_p = 0\n")],
     "run.toml: [params.classify] top_p: 0 is out of range"),
    ("toml-params-unknown", lambda t: ["--config", _toml(t, "[params.classify]\nn = 2\n")],
     "run.toml: [params.classify] unknown parameter 'n'"),
    ("toml-params-stage", lambda t: ["--config", _toml(t, "[params.other]\n")],
     "[params] takes tables named instructions"),
    ("toml-stages-stage", lambda t: ["--config", _toml(t, "[stages.other]\nmodel = 'x'\n")],
     "run.toml: [stages] takes tables named instructions"),
    ("toml-stages-key", lambda t: ["--config", _toml(t, "[stages.classify]\ntop_p = 1\n")],
     "run.toml: [stages.classify] unknown key 'top_p'"),
    ("toml-stages-model-int", lambda t: ["--config", _toml(t, "[stages.classify]\nmodel = 3\n")],
     "run.toml: [stages.classify] model: 3 is an integer, not a string"),
    ("toml-params-model", lambda t: ["--config", _toml(t, "[params.classify]\nmodel = 'x'\n")],
     "run.toml: [params.classify] model: goes in [stages.classify]"),
    ("toml-endpoints-table", lambda t: ["--config", _toml(t, "endpoints = 3\n")],
     "run.toml: endpoints must be [[endpoints]] tables"),
    ("toml-endpoints-name", lambda t: ["--config", _toml(t, "[[endpoints]]\nrpm = 5\n")],
     "run.toml: [[endpoints]] #1: needs a name"),
    ("toml-endpoints-twice", lambda t: ["--config", _toml(
        t, "[[endpoints]]\nname = 'a'\nbase_url = 'http://a/v1'\n"
           "[[endpoints]]\nname = 'a'\nbase_url = 'http://b/v1'\n")],
     "run.toml: [[endpoints]] 'a': a second endpoint of that name"),
    ("toml-endpoints-url", lambda t: ["--config", _toml(t, "[[endpoints]]\nname = 'a'\n")],
     "run.toml: [[endpoints]] 'a': provider openai-compatible needs a base_url"),
    ("toml-endpoints-provider", lambda t: ["--config", _toml(
        t, "[[endpoints]]\nname = 'a'\nprovider = 'sim'\n")],
     "run.toml: [[endpoints]] #1 provider: 'sim' is not"),
    ("toml-endpoints-key", lambda t: ["--config", _toml(
        t, "[[endpoints]]\nname = 'a'\nbase_url = 'http://a/v1'\napi_key = 'sk-x'\n")],
     "run.toml: [[endpoints]] #1: unknown key 'api_key'"),
    ("toml-endpoints-env", lambda t: ["--config", _toml(
        t, "[[endpoints]]\nname = 'a'\nbase_url = 'http://a/v1'\napi_key_env = 'NOT_SET_X9'\n")],
     "[[endpoints]] 'a': api_key_env NOT_SET_X9 is not set in the environment"),
    ("toml-stop-many", lambda t: ["--config", _toml(
        t, "[params.classify]\nstop = ['a','b','c','d','e']\n")], "stop: 5 items are too many"),
    ("sim-field", ["sim", "--fail-429", "2"], "asyncgen sim: error: --fail-429: 2 is out of"),
    ("sim-sum", ["sim", "--fail-429", "0.6", "--fail-5xx", "0.6"], "--fail-* probabilities"),
    ("sim-port", ["sim", "--port", "99999999999999999999"], "--port: 99999999999999999999 is"),
]


def _argv(spec: list[str] | object, tmp_path: Path, out: Path) -> list[str]:
    argv = spec(tmp_path) if callable(spec) else list(spec)  # type: ignore[call-overload]
    if argv[0] == "sim":
        return argv
    if "--out" in argv:
        return ["run", *argv]
    return ["run", "--out", str(out), *argv]


@contextlib.contextmanager
def _stderr() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    with contextlib.redirect_stderr(buffer):
        yield buffer


def _main(argv: list[str]) -> tuple[int, str]:
    with _stderr() as err:
        try:
            code = cli.main(argv)
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    return code, err.getvalue()


def _one_clear_line(code: int, err: str, expected: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert 1 <= len(lines) <= 3 and len(lines[0]) < 300, err
    assert lines[0].startswith("asyncgen "), err
    assert expected in err, err
    assert "Traceback" not in err and "invalid literal" not in err and "usage:" not in err


@pytest.mark.parametrize(("name", "spec", "expected"), BAD, ids=[row[0] for row in BAD])
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, spec: object, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    code, err = _main(_argv(spec, tmp_path, out))
    _one_clear_line(code, err, expected)
    assert not out.exists()
    assert {p.name for p in tmp_path.iterdir()} <= {"none.jsonl", "run.toml", "seeds.jsonl"}


@pytest.mark.parametrize("name", ["seed-64-bit", "seeds-array", "toml-params-type", "prefix"])
def test_bad_input_as_a_real_process(tmp_path: Path, name: str) -> None:
    spec, expected = next((s, e) for n, s, e in BAD if n == name)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "asyncgen", *_argv(spec, tmp_path, out)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    _one_clear_line(done.returncode, done.stderr, expected)
    assert done.stdout == "" and not out.exists()


def test_bad_flag_value_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--target-instructions: 0 is out of range"):
        config.build_config(_parse("--out", "o", "--target-instructions", "0"))


@pytest.fixture
def read_only_mount(tmp_path: Path) -> Iterator[Path]:
    """A read-only tmpfs (root only; skipped elsewhere)."""
    mount = tmp_path / "ro"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,ro", "tmpfs", str(mount)], capture_output=True
    ).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_out_on_a_read_only_mount_is_refused(read_only_mount: Path) -> None:
    for out in (read_only_mount, read_only_mount / "deep" / "out"):
        code, err = _main(["run", "--out", str(out)])
        _one_clear_line(code, err, "read-only file system")


def test_public_config_is_plain_json() -> None:
    import orjson

    cfg = config.build_config(_parse("--out", "o"))
    assert orjson.loads(orjson.dumps(cfg.public()))["params"]["classify"]["max_tokens"] == 3
