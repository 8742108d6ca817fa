"""The courier's promises under a random sequence of kills, checked from outside.

One run directory, one `asyncgen sim --books` on loopback; each round starts
`asyncgen run --budget-usd CAP` (resuming) and, after a random delay, does one of:
- `kill`: kill -9 the run (its courier finishes what is in flight; the next round starts at once,
  so it waits for that courier);
- `kill+courier`: kill -9 the run, then kill -9 its courier within 0.5 s;
- `int+kill`: SIGINT (a drain begins), then kill -9 within 0.8 s;
- `kill-fast`: kill -9 within 0.6 s of the start (during the wait for the last courier, the
  take-over of the rescued answers or the courier's start): a run killed twice in a row.
After every round: no courier of the directory is alive `--timeout` + 2 s after the kill; the
provider's bill (the books) <= CAP; the spend figure (last line of spend.jsonl) >= the bill.
After the last round, a run to its end, then: each rescued answer used at most once
(`request.rescued` events), run.finished's `cost_usd_all_runs` equals the journal's figure, every
JSONL file of the directory whole. Prints one line per round and FAILURES: [] when all held.

    python bench/bench_courier_kills.py /tmp/kills --rounds 30 --cap 0.25 --seed 21
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from asyncgen.jsonl import JsonlFile
from asyncgen.rundir import layout, spend
from asyncgen.sim.books import fetch_totals
from asyncgen.sim.embedded import simulator_process

TIMEOUT_S = 3.0
ACTIONS = ("kill", "kill", "kill+courier", "int+kill", "kill-fast")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def _couriers(out: Path) -> list[int]:
    """Live courier processes of this run directory (by their command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"asyncgen.llm.transport.courier" in command and str(out).encode() in command \
                and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir", type=Path, help="a new directory for the books and the run")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--cap", type=float, default=0.4, help="--budget-usd of every run")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--target", type=int, default=2000, help="--target-instructions")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    args.dir.mkdir(parents=True)
    out = args.dir / "out"
    failures: list[str] = []

    def check(what: str, ok: bool) -> None:
        if not ok:
            failures.append(what)
            print("FAIL", what, flush=True)

    with simulator_process("--books", str(args.dir / "books.jsonl"), "--latency-ms", "600",
                           "--latency-spread-ms", "500", "--seed", str(args.seed)) as url:
        argv = [sys.executable, "-m", "asyncgen", "run", "--out", str(out), "--provider", "sim",
                "--base-url", url, "--log-format", "none", "--seed", str(args.seed),
                "--timeout", str(TIMEOUT_S), "--target-instructions", str(args.target),
                "--budget-usd", str(args.cap)]
        print("round action delay_s exit figure_usd billed_usd tasks rescue_lines", flush=True)
        for i in range(args.rounds):
            action = rng.choice(ACTIONS)
            run = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
            delay = rng.uniform(0.1, 0.6) if action == "kill-fast" else rng.uniform(0.8, 4.0)
            started = time.monotonic()
            while time.monotonic() - started < delay and run.poll() is None:
                time.sleep(0.01)
            if run.poll() is None:
                if action == "int+kill":
                    run.send_signal(signal.SIGINT)
                    time.sleep(rng.uniform(0.05, 0.8))
                run.kill()
            code = run.wait()
            if action == "kill+courier":
                time.sleep(rng.uniform(0.0, 0.5))
                for pid in _couriers(out):
                    os.kill(pid, signal.SIGKILL)
            killed = time.monotonic()
            while _couriers(out) and time.monotonic() - killed < TIMEOUT_S + 2.0:
                time.sleep(0.02)
            check(f"round {i}: courier alive {TIMEOUT_S + 2.0}s after the kill", not _couriers(out))
            billed = fetch_totals(url)["billed_usd"]
            figure = spend.recover(out / layout.SPEND_FILE).figure_usd
            check(f"round {i}: figure {figure} < billed {billed}", figure + 1e-9 >= billed)
            check(f"round {i}: billed {billed} > cap {args.cap}", billed <= args.cap + 1e-9)
            print(i, action, round(delay, 2), code, round(figure, 6), billed,
                  _lines(out / "tasks.jsonl"), _lines(out / layout.RESCUE_FILE), flush=True)
        final = subprocess.run(argv, stderr=subprocess.DEVNULL, timeout=300)
        ended = time.monotonic()
        while _couriers(out) and time.monotonic() - ended < TIMEOUT_S + 2.0:
            time.sleep(0.02)
        check("the last courier is gone", not _couriers(out))
        billed = fetch_totals(url)["billed_usd"]
    events = [record for _, record in JsonlFile(out / "events.jsonl")]
    used = Counter(ev["rescue_id"] for ev in events if ev["event"] == "request.rescued")
    twice = [answer for answer, uses in used.items() if uses > 1]
    check(f"used twice: {twice}", not twice)
    starts = [ev for ev in events if ev["event"] == "run.started"]
    finished = [ev for ev in events if ev["event"] == "run.finished"]
    figure = spend.recover(out / layout.SPEND_FILE).figure_usd
    check("figure < billed", figure + 1e-9 >= billed)
    check("billed > cap", billed <= args.cap + 1e-9)
    check("run.finished figure != journal", abs(finished[-1]["cost_usd_all_runs"] - figure) < 1e-9)
    for name in ("tasks.jsonl", "events.jsonl", "spend.jsonl", "journal.jsonl", layout.RESCUE_FILE):
        path = out / name
        if path.exists() and path.stat().st_size:
            source = JsonlFile(path)
            list(source)
            check(f"{name} not whole",
                  path.read_bytes().endswith(b"\n") and source.torn_line is None)
    print(f"last run: exit {final.returncode}, reason {finished[-1]['reason']}; "
          f"runs {len(starts)}, "
          f"rescued answers used {sum(used.values())}, reservations settled at the bill "
          f"{sum(ev.get('rescued', {}).get('settled', 0) for ev in starts)}; "
          f"figure {figure} billed {billed} cap {args.cap}")
    print("FAILURES:", failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
