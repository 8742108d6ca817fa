"""The command line: `asyncgen run | sim | report | export`.

One boundary for user errors: a `UsageError` anywhere below becomes one line on stderr and exit
code 2, as argparse itself does for bad flags.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

import anyio

from asyncgen import __version__, config, sim
from asyncgen.commands import export, report
from asyncgen.commands.run import execute, prepare
from asyncgen.errors import UsageError

EXIT_USAGE = 2


def _run(args: argparse.Namespace) -> int:
    prepared = prepare(config.build_config(args))
    return anyio.run(execute, prepared)


class Parser(argparse.ArgumentParser):
    """argparse, but a bad command line is one line (no usage dump) and flags are never
    abbreviated (`--target` is not `--target-instructions`)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        message = message.removeprefix("argument ")
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
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
            else config.HelpFormatter,
        )
        add_arguments(sub)
        sub.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # name the subcommand, as its own errors do
        print(f"asyncgen {args.command}: error: unrecognized arguments: {' '.join(extra)}",
              file=sys.stderr)
        return EXIT_USAGE
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
