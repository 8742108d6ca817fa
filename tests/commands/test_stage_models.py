"""A model per stage (`[stages.<stage>] model`): what reaches the provider (counted by the
simulator, by prompt kind and model named), what tasks record, what a resume refuses, and the
report's cost per model per stage."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from tests.conftest import report_json, sim_process

STAGE_MODEL = """\
model = "ref-1"
[stages.classify]
model = "small"
"""


def _models_at_the_provider(url: str) -> dict[str, dict[str, int]]:
    """The simulator's count of requests received, by prompt kind and the model they named."""
    with urllib.request.urlopen(f"{url.removesuffix('/v1')}/sim/stats", timeout=10) as answer:
        models: dict[str, dict[str, int]] = json.loads(answer.read())["models"]
    return models


def _run(out: Path, url: str, config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "asyncgen", "run", "--out", str(out), "--config", str(config),
         "--provider", "openai-compatible", "--base-url", url, "--target-instructions", "12",
         "--log-format", "none", "--progress-interval", "1", *extra],
        capture_output=True, text=True, timeout=50,
    )


def _tasks(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "tasks.jsonl").read_text().splitlines()]


def test_classification_goes_to_its_own_model_and_nothing_else_does(tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text(STAGE_MODEL)
    out = tmp_path / "out"
    with sim_process("--seed", "5") as url:
        done = _run(out, url, config)
        assert done.returncode == 0, done.stderr
        at_provider = _models_at_the_provider(url)
    assert set(at_provider["classify"]) == {"small"}
    assert at_provider["instructions"] == {"ref-1": at_provider["instructions"]["ref-1"]}
    for kind in ("input_first", "output_first"):
        assert set(at_provider.get(kind, {"ref-1": 0})) == {"ref-1"}
    assert at_provider.keys() <= {"instructions", "classify", "input_first", "output_first"}

    tasks = _tasks(out)
    assert len(tasks) >= 12
    for task in tasks:
        assert task["models"] == {"instructions": "ref-1", "classify": "small",
                                  "instances": "ref-1"}
        assert task["model"] == "ref-1"

    manifest = json.loads((out / "asyncgen.json").read_text())
    assert manifest["runs"][-1]["settings"]["stage_models"] == {"classify": "small"}

    by_model = report_json(out)["requests"]["by_model"]
    assert set(by_model) == {"ref-1", "small"}
    assert set(by_model["small"]) == {"classify"}
    assert set(by_model["ref-1"]) == {"instructions", "instances"}
    classified = by_model["small"]["classify"]
    assert 0 < classified["requests"] <= at_provider["classify"]["small"]
    assert classified["cost_usd"] > 0


def test_a_resume_with_another_stage_model_is_refused_unless_allowed(tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text(STAGE_MODEL)
    other = tmp_path / "other.toml"
    other.write_text('model = "ref-1"\n')
    out = tmp_path / "out"
    with sim_process("--seed", "6") as url:
        assert _run(out, url, config).returncode == 0
        lines = (out / "tasks.jsonl").read_bytes()
        refused = _run(out, url, other)
        assert refused.returncode == 2
        assert "stage_models {'classify': 'small'} (now {})" in refused.stderr
        assert (out / "tasks.jsonl").read_bytes() == lines  # nothing written
        allowed = _run(out, url, other, "--allow-changes", "--target-instructions", "30")
        assert allowed.returncode == 0, allowed.stderr
    tasks = _tasks(out)
    second = [task for task in tasks if task["run_id"] != tasks[0]["run_id"]]
    # a job the first run had labelled keeps no label model: this run did not label it
    labelled_now = [task["models"]["classify"] for task in second if "classify" in task["models"]]
    assert labelled_now and set(labelled_now) == {"ref-1"}
