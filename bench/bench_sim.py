"""Throughput of the simulator alone: `python -m asyncgen.sim` in its own process, driven by
raw aiohttp (no limiter, no retries) at a fixed concurrency for a fixed time.

    python bench/bench_sim.py [--concurrency 64] [--duration 10] [--endpoint chat]
                              [--mix pipeline|instructions|classify|instances] [--baseline]
                              [-- SIM FLAGS...]

Prompts are the pipeline's own templates (asyncgen.selfinstruct.prompts) with synthetic demos; the
pipeline mix sends one instruction prompt per 7 classification and 7 instance prompts.
Prints one line of figures per run (req/s, latency percentiles, statuses, CPU per request of
the server and of this client). --baseline first measures a bare aiohttp server that returns
a fixed completion body, in the same run: the ratio says how much the simulator's own work
costs, whatever else the machine is doing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp
import orjson

from asyncgen.selfinstruct import prompts
from asyncgen.selfinstruct.demos import load_demos
from asyncgen.sim.instructions import novel_instruction

ROOT = Path(__file__).resolve().parents[1]


def build_prompts(mix: str, count: int = 300) -> list[str]:
    """Distinct prompts of the requested kinds (same templates the pipeline sends)."""
    rng = random.Random(0)
    demos = [novel_instruction(rng) for _ in range(40)]
    shots = load_demos()
    out: list[str] = []
    for i in range(count):
        candidate = novel_instruction(rng)
        kind = mix if mix != "pipeline" else ("instructions" if i % 15 == 0 else
                                              "classify" if i % 2 else "instances")
        if kind == "instructions":
            out.append(prompts.instruction_prompt(rng.sample(demos, 8)))
        elif kind == "classify":
            out.append(prompts.classify_prompt(shots.classify, candidate))
        elif i % 6 == 0:
            out.append(prompts.output_first_prompt(shots.output_first, candidate))
        else:
            out.append(prompts.input_first_prompt(shots.input_first, candidate))
    return out


BASELINE_SERVER = """
import socket
from aiohttp import web
BODY = (b'{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,'
        b'"message":{"role":"assistant","content":" Yes"},"finish_reason":"stop"}],'
        b'"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}')
async def handle(request):
    await request.read()
    return web.Response(body=BODY, content_type="application/json")
app = web.Application()
app.router.add_post("/v1/chat/completions", handle)
app.router.add_post("/v1/completions", handle)
app.router.add_get("/v1/models", handle)
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
sock.listen(1024)
print(f"asyncgen sim listening on http://127.0.0.1:{sock.getsockname()[1]}/v1", flush=True)
web.run_app(app, sock=sock, access_log=None, print=None)
"""


def start_sim(extra: list[str], *, baseline: bool = False) -> tuple[subprocess.Popen[str], str]:
    """Spawn the simulator (or the bare baseline) and read its URL from its first line."""
    command = ["-c", BASELINE_SERVER] if baseline else ["-m", "asyncgen.sim", "--seed", "1"]
    proc = subprocess.Popen(
        [sys.executable, *command, *([] if baseline else extra)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("asyncgen sim listening on "):
        proc.kill()
        raise SystemExit(f"simulator did not start: {line!r}")
    return proc, line.rsplit(" ", 1)[1].strip()


async def drive(url: str, bodies: list[bytes], concurrency: int, duration: float,
                endpoint: str) -> tuple[int, float, list[float], Counter[int]]:
    """Send requests from `concurrency` workers for `duration` seconds."""
    path = "/chat/completions" if endpoint == "chat" else "/completions"
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sim"}
    async with aiohttp.ClientSession(connector=connector) as session:
        deadline = time.perf_counter() + duration

        async def worker(offset: int) -> None:
            i = offset
            while time.perf_counter() < deadline:
                body = bodies[i % len(bodies)]
                i += concurrency
                start = time.perf_counter()
                async with session.post(url + path, data=body, headers=headers) as response:
                    await response.read()
                    statuses[response.status] += 1
                latencies.append(time.perf_counter() - start)

        # warm-up, then the timed run
        await asyncio.gather(*(session.get(url + "/models") for _ in range(4)))
        start = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - start
    return sum(statuses.values()), elapsed, latencies, statuses


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_one(name: str, args: argparse.Namespace, bodies: list[bytes]) -> float:
    """Start one server, drive it, print its line; returns req/s."""
    proc, url = start_sim(args.sim_args, baseline=name == "baseline")
    try:
        sim_cpu, own_cpu = cpu_seconds(proc.pid), time.process_time()
        count, elapsed, latencies, statuses = asyncio.run(
            drive(url, bodies, args.concurrency, args.duration, args.endpoint)
        )
        sim_cpu, own_cpu = cpu_seconds(proc.pid) - sim_cpu, time.process_time() - own_cpu
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    quantiles = statistics.quantiles(latencies, n=100)
    print(
        f"{name} mix={args.mix} endpoint={args.endpoint} concurrency={args.concurrency} "
        f"duration={elapsed:.1f}s requests={count} req/s={count / elapsed:.0f} "
        f"p50={quantiles[49] * 1000:.1f}ms p99={quantiles[98] * 1000:.1f}ms "
        f"statuses={dict(statuses)} cpu/request: server={sim_cpu / count * 1e6:.0f}us "
        f"client={own_cpu / count * 1e6:.0f}us",
        flush=True,
    )
    return count / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--endpoint", choices=("chat", "completions"), default="chat")
    parser.add_argument("--mix", default="pipeline",
                        choices=("pipeline", "instructions", "classify", "instances"))
    parser.add_argument("--baseline", action="store_true",
                        help="also measure a bare aiohttp server, same run")
    parser.add_argument("sim_args", nargs="*", help="extra simulator flags, after --")
    args = parser.parse_args()

    texts = build_prompts(args.mix)
    params = {"max_tokens": 300, "temperature": 0}
    if args.endpoint == "chat":
        bodies = [orjson.dumps({"model": "sim-1", **params,
                                "messages": [{"role": "user", "content": t}]}) for t in texts]
    else:
        bodies = [orjson.dumps({"model": "sim-1", **params, "prompt": t}) for t in texts]
    results = {}
    for name in (["baseline"] if args.baseline else []) + ["sim"]:
        results[name] = run_one(name, args, bodies)
    if args.baseline:
        print(f"sim/baseline = {results['sim'] / results['baseline']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
