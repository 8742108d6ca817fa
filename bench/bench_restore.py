"""What a resume and `asyncgen report` cost per task of a run directory (issues 8 and 14).

A script, not a test.

    python bench/bench_restore.py                          # 1K, 20K and 100K tasks
    python bench/bench_restore.py --tasks 20000 --repeat 5
    python bench/bench_restore.py --code /tmp/base         # another checkout's asyncgen
    python bench/bench_restore.py --tasks 100000 --lag 2000  # and the loop's worst stall

The directories are made the way a run writes them: one real run against the simulator
(`asyncgen run --target-instructions 300`, its tasks.jsonl, journal.jsonl, spend.jsonl,
events.jsonl and asyncgen.json), then its lines replicated to N tasks, each copy with fresh
task ids, instructions (`bench/corpus.py`, deduplicated), batch ids and reservation numbers, and
the spend totals carried on. The directory is one run's: the journal still holds every record
of it (what a run leaves for the next run to fold), and a few candidate batches were not judged
when it stopped at the target, as in the real run. The baseline is a real one-task run
(`--target-instructions 1`).

(a) Resume: `asyncgen run` on a fresh copy of the directory, target N + 100, against a listener
that accepts the connection and never answers; the figure is the time from the process start
to its first connection (its first request), in wall time and in the process's CPU time
(/proc/PID/stat, all threads, 10 ms ticks); then the process is killed. (b) `asyncgen report
DIR --json`, wall and CPU (the child's rusage). Each minus the same on the one-task directory,
divided by N: µs per task. "cold" is the directory as replicated (what a run killed -9, or an
older asyncgen, leaves: no summary, the whole run's journal); "warm" is the same after one
clean `asyncgen run` of the code measured whose target is already met (it sends nothing: what
any run leaves when it ends). `--lag MORE` resumes the warm largest directory MORE tasks
further against the simulator and prints the run's worst event-loop stall. The least of
`--repeat` runs, the one-task directory measured between them. The page cache is warm (the
directory was just written or copied).

"killed" (`--killed`): not a replica but what a real kill -9 leaves: `asyncgen run` (of this
checkout) against the simulator with no latency and no rate limit, killed with SIGKILL once
tasks.jsonl holds N lines *and* its last checkpoint of OUT/summary.json (asyncgen.rundir.checkpoint,
every 10 s) is `--kill-age` seconds old (default 9.5: just before the next one, the longest
tail a kill can leave), its courier waited for: its whole journal since it started, a torn line
maybe. The tail the checkpoint does not cover (lines of tasks.jsonl) is printed with it, and
its µs per task are over the lines it holds (a little over N).
"""

from __future__ import annotations

import argparse
import os
import platform
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from corpus import generate

from asyncgen.sim.embedded import simulator_process

KEY_VARS = ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "ASYNCGEN_API_KEY")
TEMPLATE_TASKS = 300
TICK_S = 1 / os.sysconf("SC_CLK_TCK")
FIRST_REQUEST_TIMEOUT_S = 600.0


def _env(code: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARS}
    if code:
        env["PYTHONPATH"] = code
    return env


def _asyncgen(*args: str) -> list[str]:
    return [sys.executable, "-m", "asyncgen", *args]


def real_run(out: Path, url: str, target: int) -> None:
    """A real run against the simulator at `url`, to `target` tasks."""
    subprocess.run(_asyncgen("run", "--out", str(out), "--provider", "sim", "--base-url", url,
                             "--target-instructions", str(target), "--log-format", "none",
                             "--seed", "1"), check=True, env=_env(None),
                   stdout=subprocess.DEVNULL)


def _lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


class Replica:
    """The template run's lines, replicated to `n` tasks with fresh texts and numbers."""

    def __init__(self, template: Path, n: int) -> None:
        self.template = template
        self.n = n
        self.tasks = _lines(template / "tasks.jsonl")
        self.events = _lines(template / "events.jsonl")
        self.journal = _lines(template / "journal.jsonl")
        self.spend = _lines(template / "spend.jsonl")
        self.cycles = -(-n // len(self.tasks))
        self.fresh = self._instructions(self.cycles * len(self.tasks))

    @staticmethod
    def _instructions(count: int) -> list[str]:
        """`count` distinct realistic instructions."""
        seen: set[str] = set()
        texts = []
        for number, text in enumerate(generate(count, seed=7)):
            if text in seen:
                text = f"{text} (variant {number})"
            seen.add(text)
            texts.append(text)
        return texts

    def _texts(self, cycle: int) -> dict[str, str]:
        """Template instruction -> this cycle's: tasks take corpus texts, others a suffix."""
        base = cycle * len(self.tasks)
        mapping = {task["instruction"]: self.fresh[base + i] for i, task in enumerate(self.tasks)}
        return mapping

    def _text(self, mapping: dict[str, str], text: str, cycle: int) -> str:
        return mapping.get(text) or (text if cycle == 0 else f"{text} (#{cycle})")

    def write(self, out: Path) -> int:
        """Write the directory; the number of tasks in it (`n`)."""
        out.mkdir(parents=True)
        shutil.copy(self.template / "asyncgen.json", out / "asyncgen.json")
        per = len(self.tasks)
        with (out / "tasks.jsonl").open("wb") as tasks, \
                (out / "journal.jsonl").open("wb") as journal, \
                (out / "events.jsonl").open("wb") as events, \
                (out / "spend.jsonl").open("wb") as spend:
            events.write(orjson.dumps(self.events[0], option=orjson.OPT_APPEND_NEWLINE))
            spend.write(orjson.dumps(self.spend[0], option=orjson.OPT_APPEND_NEWLINE))
            spent = self.spend[-1]["spent"]
            numbers = max(int(r.get("r", 0)) for r in self.spend) + 1
            batches = sum(1 for r in self.journal if r["op"] == "candidates") + 1
            unjudged = ({r["batch"] for r in self.journal if r["op"] == "candidates"}
                        - {r["batch"] for r in self.journal if r["op"] == "judged"})
            for cycle in range(self.cycles):
                keep = min(per, self.n - cycle * per)
                mapping = self._texts(cycle)
                for i, task in enumerate(self.tasks[:keep]):
                    line = {**task, "id": f"task-{cycle * per + i + 1:06d}",
                            "instruction": mapping[task["instruction"]]}
                    tasks.write(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))
                committed = 0
                for event in self.events[1:]:
                    if event["event"] in ("run.started", "run.finished", "run.stopping",
                                          "run.simulator"):
                        continue
                    if event["event"] == "task.committed":
                        if committed == keep:
                            break
                        committed += 1
                        event = {**event, "id": f"task-{cycle * per + committed:06d}"}
                    elif "instruction" in event:
                        event = {**event, "instruction": self._text(
                            mapping, event["instruction"], cycle)}
                    events.write(orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE))
                for record in self.journal:
                    record = dict(record)
                    if "instruction" in record:
                        record["instruction"] = self._text(mapping, record["instruction"],
                                                           cycle)
                    if "instructions" in record:
                        record["instructions"] = [self._text(mapping, t, cycle)
                                                  for t in record["instructions"]]
                    if "batch" in record:
                        run, number = record["batch"].rsplit("-", 1)
                        record["batch"] = f"{run}-{int(number) + cycle * batches}"
                    journal.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
                if cycle < self.cycles - 1:  # only the last cycle's stop leaves batches open
                    for batch in unjudged:
                        run, number = batch.rsplit("-", 1)
                        record = {"op": "judged", "batch": f"{run}-{int(number) + cycle * batches}"}
                        journal.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
                for record in self.spend[1:]:
                    record = dict(record)
                    for key in ("r", "s"):
                        if key in record:
                            record[key] += cycle * numbers
                    record["spent"] = round(record["spent"] + cycle * spent, 9)
                    spend.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
            finished = {**self.events[-1], "committed": self.n, "committed_all_runs": self.n}
            events.write(orjson.dumps(finished, option=orjson.OPT_APPEND_NEWLINE))
        return self.n


def killed_run(out: Path, tasks: int, age: float) -> tuple[int, int]:
    """A real run against the simulator, killed -9 once tasks.jsonl holds `tasks` lines and
    its last checkpoint is `age` seconds old: the lines it holds, and those after what its
    last checkpoint covers."""
    path = out / "tasks.jsonl"
    with simulator_process("--seed", "1", "--latency-ms", "0") as url:
        proc = subprocess.Popen(
            _asyncgen("run", "--out", str(out), "--provider", "sim", "--base-url", url,
                      "--target-instructions", str(tasks * 2), "--log-format", "none",
                      "--seed", "1"), env=_env(None), stdout=subprocess.DEVNULL)
        lines, seen = 0, 0
        summarised = out / "summary.json"
        while proc.poll() is None and (lines < tasks or not summarised.exists()
                                       or time.time() - summarised.stat().st_mtime < age):
            time.sleep(0.05)
            if path.exists():
                with path.open("rb") as f:
                    f.seek(seen)
                    data = f.read()
                seen += len(data)
                lines += data.count(b"\n")
        proc.kill()
        proc.wait()
        time.sleep(3)  # its courier ends once the simulator is gone; the resume waits for it
    covered = orjson.loads((out / "summary.json").read_bytes())["tasks"]["lines"] \
        if (out / "summary.json").exists() else 0
    lines = len(path.read_bytes().splitlines())
    return lines, lines - covered


def _cpu_s(pid: int) -> float:
    """User + system CPU of a live process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK_S


def resume_once(directory: Path, scratch: Path, tasks: int, code: str | None) -> tuple[float,
                                                                                       float]:
    """Wall and CPU seconds from `asyncgen run`'s start to its first request."""
    if scratch.exists():
        shutil.rmtree(scratch)
    shutil.copytree(directory, scratch)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
        started = time.perf_counter()
        proc = subprocess.Popen(
            _asyncgen("run", "--out", str(scratch), "--provider", "sim", "--base-url", url,
                      "--target-instructions", str(tasks + 100), "--log-format", "none",
                      "--seed", "1"),
            env=_env(code), cwd=code, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            ready, _, _ = select.select([listener], [], [], FIRST_REQUEST_TIMEOUT_S)
            wall = time.perf_counter() - started
            cpu = _cpu_s(proc.pid)
            if not ready:
                raise RuntimeError("no request within the timeout")
        finally:
            proc.kill()
            _, err = proc.communicate()
    if not ready:
        raise RuntimeError(err.decode())
    return wall, cpu


def report_once(directory: Path, code: str | None) -> tuple[float, float]:
    """Wall and CPU seconds of `asyncgen report DIR --json`."""
    started = time.perf_counter()
    proc = subprocess.Popen(_asyncgen("report", str(directory), "--json"), env=_env(code),
                            cwd=code, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"report exited {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def prime(directory: Path, tasks: int, code: str | None) -> None:
    """One clean `asyncgen run` of the code measured, its target already met: what a run
    leaves in the directory when it ends (no request is sent)."""
    subprocess.run(_asyncgen("run", "--out", str(directory), "--provider", "sim", "--base-url",
                             "http://127.0.0.1:9/v1", "--target-instructions", str(tasks),
                             "--log-format", "none", "--seed", "1"),
                   check=True, env=_env(code), cwd=code, stdout=subprocess.DEVNULL)


def loop_lag(directory: Path, scratch: Path, tasks: int, more: int, code: str | None
             ) -> dict[str, Any]:
    """Resume a copy of `directory` to `more` tasks past it against the simulator; the run's
    own `run.finished` (its worst event-loop stall, `loop_lag_max_ms`, restore included)."""
    if scratch.exists():
        shutil.rmtree(scratch)
    shutil.copytree(directory, scratch)
    with simulator_process("--seed", "1") as url:
        subprocess.run(_asyncgen("run", "--out", str(scratch), "--provider", "sim", "--base-url",
                                 url, "--target-instructions", str(tasks + more),
                                 "--log-format", "none", "--seed", "1"),
                       check=True, env=_env(code), cwd=code, stdout=subprocess.DEVNULL)
    finished: dict[str, Any] = orjson.loads(
        (scratch / "events.jsonl").read_bytes().splitlines()[-1])
    return finished


def _least(runs: list[tuple[float, float]]) -> tuple[float, float]:
    """The least wall and the least CPU time of the runs (the least disturbed by the load)."""
    return min(r[0] for r in runs), min(r[1] for r in runs)


def measure(directory: Path, tasks: int, base: Path, scratch: Path, repeat: int,
            code: str | None) -> dict[str, tuple[float, float]]:
    """Resume and report of `directory`, each minus the same of the one-task `base`, measured
    alternately so the shared machine's load falls on both alike: seconds (wall, CPU)."""
    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in ("resume", "report", "r0",
                                                                  "p0")}
    for _ in range(repeat):
        runs["r0"].append(resume_once(base, scratch, 1, code))
        runs["resume"].append(resume_once(directory, scratch, tasks, code))
        runs["p0"].append(report_once(base, code))
        runs["report"].append(report_once(directory, code))
    least = {k: _least(v) for k, v in runs.items()}
    return {"resume": least["resume"], "report": least["report"],
            "resume_base": least["r0"], "report_base": least["p0"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", default="1000,20000,100000", help="comma-separated Ns")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--code", help="run asyncgen from this checkout (PYTHONPATH)")
    parser.add_argument("--lag", type=int, default=0, metavar="MORE",
                        help="also resume the largest directory MORE tasks past it against "
                        "the simulator and show its worst event-loop stall")
    parser.add_argument("--keep", type=Path, help="build the directories here and keep them")
    parser.add_argument("--killed", action="store_true",
                        help="also a directory a real run killed -9 at N tasks left")
    parser.add_argument("--kill-age", type=float, default=9.5,
                        help="seconds after a checkpoint to kill the run (--killed)")
    args = parser.parse_args()
    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f} at start, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, code {args.code or 'this'}",
          flush=True)
    sizes = [int(n) for n in args.tasks.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        template, one = root / "template", root / "one"
        if not (template / "tasks.jsonl").exists():
            shutil.rmtree(template, ignore_errors=True)
            shutil.rmtree(one, ignore_errors=True)
            with simulator_process("--seed", "1") as url:
                real_run(template, url, TEMPLATE_TASKS)
                real_run(one, url, 1)
        ones = len((one / "tasks.jsonl").read_bytes().splitlines())
        primed = root / "one-primed"
        shutil.rmtree(primed, ignore_errors=True)
        shutil.copytree(one, primed)
        prime(primed, ones, args.code)
        print(f"one-task directory: {primed}", flush=True)
        print("\n| tasks | directory | MB | resume s wall / CPU | resume µs/task wall / CPU "
              "| report s wall / CPU | report µs/task wall / CPU | load |")
        print("|---:|---|---:|---:|---:|---:|---:|---:|")
        for n in sizes:
            directory = root / f"tasks-{n}"
            if not (directory / "tasks.jsonl").exists():
                shutil.rmtree(directory, ignore_errors=True)
                Replica(template, n).write(directory)
            size = sum(p.stat().st_size for p in directory.iterdir()) / 1e6
            warm = root / f"tasks-{n}-warm"
            shutil.rmtree(warm, ignore_errors=True)
            shutil.copytree(directory, warm)
            prime(warm, n, args.code)
            states = [("cold", directory, n), ("warm", warm, n)]
            if args.killed:
                killed = root / f"tasks-{n}-killed"
                shutil.rmtree(killed, ignore_errors=True)
                lines, tail = killed_run(killed, n, args.kill_age)
                print(f"killed at {lines:,} tasks: {tail:,} lines of tasks.jsonl after the "
                      f"checkpoint, load {os.getloadavg()[0]:.2f}", flush=True)
                states.append(("killed", killed, lines))
            for state, where, count in states:
                got = measure(where, count, primed, root / "scratch", args.repeat, args.code)
                cells = []
                for what in ("resume", "report"):
                    wall, cpu = got[what]
                    base = got[f"{what}_base"]
                    per = [(got[what][i] - base[i]) / count * 1e6 for i in (0, 1)]
                    cells += [f"{wall:.2f} / {cpu:.2f}", f"**{per[0]:.1f}** / {per[1]:.1f}"]
                size = sum(p.stat().st_size for p in where.iterdir()) / 1e6
                print(f"| {count:,} | {state} | {size:,.0f} | {' | '.join(cells)} | "
                      f"{os.getloadavg()[0]:.2f} |", flush=True)
            if args.lag and n == max(sizes):
                finished = loop_lag(warm, root / "scratch", n, args.lag, args.code)
                print(f"\nresumed {n:,} to {finished.get('committed_all_runs')}: worst "
                      f"event-loop stall {finished.get('loop_lag_max_ms')} ms "
                      f"(run.finished loop_lag_max_ms), {finished.get('elapsed_s')} s, "
                      f"load {os.getloadavg()[0]:.2f}\n", flush=True)
            shutil.rmtree(warm)
            if args.keep is None:
                shutil.rmtree(directory)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
