"""Errors the user caused: bad flags, a bad config, seed or output file.

The command line turns a `UsageError` into one line on stderr and exit code 2, before anything
is written. Provider faults live in `asyncgen.llm.errors`; they are not the user's fault.
"""

from __future__ import annotations


class UsageError(Exception):
    """Bad input from the user; the message is one line that names what is wrong."""
