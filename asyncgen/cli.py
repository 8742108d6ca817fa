"""The command line: `asyncgen run | sim | report | export`.

One boundary for user errors: a `UsageError` anywhere below becomes one line on stderr and exit
code 2, as argparse itself does for bad flags.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

import anyio

from asyncgen import __version__, config, export, report, sim
from asyncgen.errors import UsageError
from asyncgen.run import execute, prepare

EXIT_USAGE = 2


def _run(args: argparse.Namespace) -> int:
    prepared = prepare(config.build_config(args))
    return anyio.run(execute, prepared)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asyncgen",
        description="Self-Instruct (Wang et al., ACL 2023) as an asyncio producer/consumer graph.",
    )
    parser.add_argument("--version", action="version", version=f"asyncgen {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    table: list[tuple[str, str, Callable[[argparse.ArgumentParser], None],
                      Callable[[argparse.Namespace], int]]] = [
        ("run", "grow a task pool from seed tasks (resumes an existing --out)",
         config.add_arguments, _run),
        ("sim", "serve the built-in OpenAI/OpenRouter-compatible provider simulator",
         sim.add_arguments, sim.main),
        ("report", "the paper's statistics, funnel, cost and latency of a run",
         report.add_arguments, report.main),
        ("export", "write the tasks as fine-tuning data", export.add_arguments, export.main),
    ]
    for name, help_text, add_arguments, handler in table:
        sub = commands.add_parser(
            name, help=help_text, description=help_text,
            # run's options carry their defaults in their help text already
            formatter_class=argparse.ArgumentDefaultsHelpFormatter if name == "sim"
            else argparse.HelpFormatter,
        )
        add_arguments(sub)
        sub.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except UsageError as exc:
        print(f"asyncgen {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `asyncgen export ... | head`: the reader has had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return code


if __name__ == "__main__":
    raise SystemExit(main())
