"""The az-ml-compatible command line: `endpointctl <group> <verb> …` where az has `az ml <group> <verb> …`.

Exit codes: 0 done, 1 the operation failed, 2 bad usage or invalid input (nothing changed).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None and "_ARGCOMPLETE" in os.environ:
        # The shell asks for completions (see cli/completion.py); nothing else runs.
        from endpointctl.cli.completion import complete

        complete()
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list and sys.stdin.isatty() and sys.stdout.isatty():
        # Bare `endpointctl` opens the TUI: it must not first pay for the command modules, the façade and
        # the spec models (~0.3 s of the first frame); the TUI loads what it needs after its first frame.
        from endpointctl.tui import run

        run()
        return 0
    from endpointctl.cli.commands import run_command  # plain CLI calls never pay for loading Textual

    return run_command(args_list)


def build_parser(*, backends: bool) -> argparse.ArgumentParser:
    from endpointctl.cli.commands import build_parser as build

    return build(backends=backends)
