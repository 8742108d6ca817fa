"""Options come from one table: defaults < TOML file < flags, and bad values name themselves."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from asyncgen import config
from asyncgen.errors import UsageError


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    config.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_defaults_are_the_papers() -> None:
    cfg = config.build_config(_parse("--out", "o"))
    assert cfg.human_per_prompt == 6 and cfg.machine_per_prompt == 2
    assert cfg.similarity_threshold == 0.7
    assert cfg.params["instructions"].temperature == 0.7
    assert cfg.params["instructions"].stop == ("\n\n", "\n16", "16.", "16 .")
    assert cfg.params["classify"].max_tokens == 3
    assert cfg.params["instances"].presence_penalty == 1.5
    assert "go to" in cfg.blacklist


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


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("nope = 1\n", "unknown option 'nope'"),
        ("rpm = -5\n", "option 'rpm'"),
        ("endpoint = 'chatty'\n", "must be one of chat, completions"),
        ("out = 'x'\n[params.classify]\ntemperature = 9\n", "[params.classify]: temperature"),
        ("out = 'x'\n[params.other]\n", "[params] takes tables named"),
        ("out = [\n", "invalid TOML"),
    ],
)
def test_bad_toml_is_one_clear_error(tmp_path: Path, body: str, message: str) -> None:
    toml = tmp_path / "run.toml"
    toml.write_text(body)
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace("]", r"\]")):
        config.build_config(_parse("--config", str(toml), "--out", "o"))


def test_bad_flag_value_is_rejected_by_argparse(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _parse("--out", "o", "--target-instructions", "0")
    assert exit_info.value.code == 2
    assert "--target-instructions" in capsys.readouterr().err


def test_openai_compatible_needs_a_base_url() -> None:
    with pytest.raises(UsageError, match="needs --base-url"):
        config.build_config(_parse("--out", "o", "--provider", "openai-compatible"))


def test_public_config_is_plain_json() -> None:
    import orjson

    cfg = config.build_config(_parse("--out", "o"))
    assert orjson.loads(orjson.dumps(cfg.public()))["params"]["classify"]["max_tokens"] == 3
