"""`endpointctl completion bash|zsh|fish`: the shell script that completes verbs, flags and names."""

from __future__ import annotations

import argparse
import sys

from endpointctl.cli.common import CliContext
from endpointctl.cli.completion import SHELLS, shell_code

HELP = """\
Prints a completion script for your shell. Verbs and flags complete from the command line itself; -n/--name
and -e/--endpoint-name complete from the endpoints and deployments in the local state (nothing is started or
contacted). Load it with:
  bash:  eval "$(endpointctl completion bash)"            (e.g. in ~/.bashrc)
  zsh:   eval "$(endpointctl completion zsh)"             (after compinit, e.g. in ~/.zshrc)
  fish:  endpointctl completion fish | source             (e.g. in ~/.config/fish/config.fish)"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], *, backends: bool) -> None:
    p = sub.add_parser(
        "completion",
        help="print the shell completion script (bash, zsh, fish)",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("shell", choices=SHELLS)
    p.set_defaults(handler=_completion, outside_loop=True)


def _completion(args: argparse.Namespace, ctx: CliContext) -> None:
    sys.stdout.write(shell_code(args.shell))
