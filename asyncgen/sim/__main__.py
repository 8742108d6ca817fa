"""`python -m asyncgen.sim`: the simulator without the rest of the command line."""

from __future__ import annotations

import argparse
import sys

from asyncgen.errors import UsageError
from asyncgen.sim.command import add_arguments, main


def run() -> int:
    """Parse flags and serve; a bad flag value is one line on stderr and exit code 2."""
    parser = argparse.ArgumentParser(
        prog="python -m asyncgen.sim", description="asyncgen's provider simulator",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_arguments(parser)
    args = parser.parse_args()
    try:
        return main(args)
    except UsageError as exc:
        print(f"asyncgen: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(run())
