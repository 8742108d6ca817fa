"""Tasks committed per generation request: a plain numbered list vs chat formats (issue 21).

For each `--formats` value, starts `asyncgen sim --chat-format F` (the paper's numbered
continuation for `plain`, a chat model's list style drawn per answer for `random`), runs
`asyncgen run` against it to `--tasks` committed tasks, and reads the run directory: tasks
committed, generation requests (request.completed of stage `instructions`), their ratio, the
run's stop reason, the answers by list format (report's `answer_formats`) and the committed
instructions holding list markup or a chat remark (must be 0). Each run is bounded by
`--timeout-s`. `--paper-stop` sends the paper's generation stop sequences (with "\\n\\n",
which the chat endpoint no longer sends by default) through a `--config` file.

    python bench/bench_formats.py --tasks 300 --formats plain,random --seeds 1,2
"""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
import tempfile
import time
from argparse import Namespace
from contextlib import redirect_stdout
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from asyncgen.commands import report
from asyncgen.llm.params import DEFAULT_PARAMS
from asyncgen.sim.embedded import simulator_process

KEY_VARS = ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "ASYNCGEN_API_KEY")
MARKUP = re.compile(
    r"\*\*|^\s*[-*\u2022#]|(?i:\b(?:task|instruction)\s*\d+\s*[:.)])|(?<=[.?!:]\s)\d{1,2}[.)]\s+[A-Z]|"
    r"(?i:here are|let me know|i hope)"
)


def run_once(chat_format: str, seed: int, tasks: int, latency_ms: float,
             timeout_s: float, paper_stop: bool = False) -> dict[str, Any]:
    """One run against a simulator answering in `chat_format`; its figures."""
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARS}
    with tempfile.TemporaryDirectory(prefix="bench-formats-") as tmp, simulator_process(
        "--chat-format", chat_format, "--seed", str(seed), "--latency-ms", str(latency_ms)
    ) as url:
        out = Path(tmp) / "out"
        config: list[str] = []
        if paper_stop:
            toml = Path(tmp) / "run.toml"
            stops = ", ".join(orjson.dumps(stop).decode()
                              for stop in DEFAULT_PARAMS["instructions"].stop)
            toml.write_text(f"[params.instructions]\nstop = [{stops}]\n")
            config = ["--config", str(toml)]
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "asyncgen", "run", "--out", str(out), "--provider", "sim",
             "--base-url", url, "--target-instructions", str(tasks), "--seed", str(seed),
             "--log-format", "none", *config],
            env=env, capture_output=True, timeout=timeout_s, check=False,
        )
        elapsed = time.monotonic() - started
        if proc.returncode != 0:
            raise SystemExit(f"run failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
        printed = io.StringIO()
        with redirect_stdout(printed):
            report.main(Namespace(dir=out, json=True, plots=None))
        data = orjson.loads(printed.getvalue())
        committed = [orjson.loads(line)["instruction"]
                     for line in (out / "tasks.jsonl").read_bytes().splitlines()]
    requests = data["requests"]["by_stage"]["instructions"]["requests"]
    return {
        "format": chat_format, "seed": seed, "committed": len(committed),
        "generation_requests": requests, "per_request": len(committed) / requests,
        "reason": data["runs"]["list"][-1]["reason"], "elapsed_s": round(elapsed, 1),
        "dirty": [text for text in committed if MARKUP.search(text)],
        "formats": {name: row["answers"]
                    for name, row in data["answer_formats"]["by_format"].items()},
        "chat_share": data["answer_formats"]["chat_share"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--formats", default="plain,random")
    parser.add_argument("--seeds", default="1")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--timeout-s", type=float, default=600.0)
    parser.add_argument("--paper-stop", action="store_true",
                        help='send the paper\'s stop sequences, "\\n\\n" included')
    args = parser.parse_args()
    print(f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores, {args.tasks} tasks, latency {args.latency_ms} ms"
          + (", the paper's stop sequences" if args.paper_stop else ""))
    totals: dict[str, list[int]] = {}
    for chat_format in args.formats.split(","):
        for seed in map(int, args.seeds.split(",")):
            row = run_once(chat_format, seed, args.tasks, args.latency_ms, args.timeout_s,
                           args.paper_stop)
            total = totals.setdefault(chat_format, [0, 0])
            total[0] += row["committed"]
            total[1] += row["generation_requests"]
            print(orjson.dumps({k: v for k, v in row.items() if k != "dirty"}).decode(),
                  f"dirty={len(row['dirty'])}", *row["dirty"][:3], flush=True)
    per = {name: c / r for name, (c, r) in totals.items()}
    for name, value in per.items():
        ratio = f" ({value / per['plain']:.0%} of plain)" if "plain" in per else ""
        print(f"{name}: {totals[name][0]} tasks / {totals[name][1]} generation requests = "
              f"{value:.2f} per request{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
