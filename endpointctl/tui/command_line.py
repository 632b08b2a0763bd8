"""The k9s-like `:` command grammar: `:ep [name][@backend]`, `:dep [endpoint/]name`, `:logs [deployment]`, …"""

from __future__ import annotations

from dataclasses import dataclass

VERBS: dict[str, str] = {
    "ep": "ep",
    "eps": "ep",
    "endpoint": "ep",
    "endpoints": "ep",
    "dep": "dep",
    "deps": "dep",
    "deployment": "dep",
    "deployments": "dep",
    "logs": "logs",
    "log": "logs",
    "traffic": "traffic",
    "tr": "traffic",
    "invoke": "invoke",
    "inv": "invoke",
    "edit": "edit",
    "yaml": "edit",
    "overview": "overview",
    "ov": "overview",
    "filter": "filter",
    "rollout": "rollout",
    "ro": "rollout",
    "help": "help",
    "q": "quit",
    "quit": "quit",
}

HELP = (
    ":ep [name][@backend]   go to an endpoint\n"
    ":dep [endpoint/]name   go to a deployment\n"
    ":logs [deployment]     open logs\n"
    ":traffic · :invoke · :edit · :overview\n"
    ":filter text           filter the navigator\n"
    ":rollout [pause|resume|promote|abort]  show or steer the progressive rollout\n"
    ":q                     quit"
)


ROLLOUT_COMMANDS = ("pause", "resume", "promote", "abort")


class CommandError(ValueError):
    pass


@dataclass(frozen=True)
class Command:
    verb: str
    endpoint: str | None = None
    deployment: str | None = None
    backend: str | None = None
    text: str = ""


def parse_command(line: str) -> Command:
    words = line.strip().lstrip(":").split(maxsplit=1)
    if not words:
        raise CommandError("empty command")
    verb = VERBS.get(words[0].lower())
    if verb is None:
        raise CommandError(f"unknown command {words[0]!r} (try :help)")
    arg = words[1].strip() if len(words) > 1 else ""
    if verb == "filter":
        return Command(verb, text=arg)
    if verb == "rollout":
        if arg and arg.lower() not in ROLLOUT_COMMANDS:
            raise CommandError(
                f":rollout {arg}: choose {', '.join(ROLLOUT_COMMANDS)} (or nothing to show it)"
            )
        return Command(verb, text=arg.lower())
    backend = None
    if "@" in arg:
        arg, _, backend = arg.partition("@")
        backend = backend.strip() or None
        arg = arg.strip()
    if verb == "ep":
        return Command(verb, endpoint=arg or None, backend=backend)
    if verb in ("dep", "logs"):
        if "/" in arg:
            endpoint, _, deployment = arg.partition("/")
            return Command(verb, endpoint=endpoint or None, deployment=deployment or None, backend=backend)
        return Command(verb, deployment=arg or None, backend=backend)
    return Command(verb, backend=backend)
