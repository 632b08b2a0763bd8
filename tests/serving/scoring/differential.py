"""Running one corpus case under azmlinfsrv and under our host, and comparing the answers."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.serving.scoring import oracle_env
from tests.serving.scoring.cases import Case, Req
from tests.serving.scoring.servers import Reply, Server, free_port, scoring_env

# Transport details that legitimately differ between gunicorn and uvicorn.
TRANSPORT_HEADERS = frozenset({"date", "server", "connection", "keep-alive", "transfer-encoding"})
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
EXEC_MS = re.compile(r"^\d+\.\d{3}$")
# Documented in docs/compatibility.md: we append our own build to the emulated version.
OUR_VERSION_SUFFIX = re.compile(r"\+endpointctl\.[0-9.]+$")


@dataclass(frozen=True)
class Pair:
    """azmlinfsrv and one or more configurations of our host, all serving the same script."""

    case: Case
    theirs: Server
    ours: dict[str, Server]

    def stop(self) -> None:
        self.theirs.stop()
        for server in self.ours.values():
            server.stop()


def start_pair(case: Case, venv: Path, logs: Path, variants: dict[str, dict[str, str]]) -> Pair:
    python = str(oracle_env.python(venv))
    base = scoring_env(case.app_root, case.model_dir, case.env)
    their_port = free_port()
    theirs = Server(
        [
            python,
            "-m",
            "azureml_inference_server_http",
            "--entry_script",
            str(case.script),
            "--port",
            str(their_port),
        ],
        base,
        case.app_root,
        their_port,
        logs / f"{case.name}-azmlinfsrv.log",
    )
    ours: dict[str, Server] = {}
    for variant, variant_env in variants.items():
        our_port = free_port()
        ours[variant] = Server(
            [
                python,
                "-m",
                "endpointctl.serving.scoring",
                "--entry_script",
                str(case.script),
                "--port",
                str(our_port),
                "--host",
                "127.0.0.1",
            ],
            oracle_env.environment({**base, **variant_env}),
            case.app_root,
            our_port,
            logs / f"{case.name}-ours-{variant}.log",
        ).start()
    return Pair(case, theirs.start(), ours)


def normalised_headers(reply: Reply, *, ours: bool) -> list[tuple[str, str]]:
    result: list[tuple[str, str]] = []
    for name, value in reply.headers:
        key = name.lower()
        if key in TRANSPORT_HEADERS:
            continue
        if key == "x-ms-run-fn-exec-ms":
            assert EXEC_MS.match(value), f"x-ms-run-fn-exec-ms {value!r} is not a 3-decimal number"
            value = "<ms>"
        elif key in ("x-request-id", "x-ms-request-id", "x-ms-client-request-id") and UUID.match(value):
            value = "<uuid>"
        elif key == "allow":
            # werkzeug lists the methods in set order, which changes with hash randomisation.
            value = ", ".join(sorted(part.strip() for part in value.split(",")))
        elif key == "x-ms-server-version" and ours:
            assert OUR_VERSION_SUFFIX.search(value), f"our server version {value!r} lost its build suffix"
            value = OUR_VERSION_SUFFIX.sub("", value)
        result.append((key, value))
    return sorted(result)


def transport_differences(theirs: Reply, ours: Reply) -> list[str]:
    """The documented transport differences, checked so a change on either side is noticed."""
    problems: list[str] = []
    if theirs.header("server") != "gunicorn":
        problems.append(f"azmlinfsrv's Server header is {theirs.header('server')!r}, expected gunicorn")
    if ours.header("server") is not None:
        problems.append(f"our host sent a Server header {ours.header('server')!r}")
    # gunicorn's sync workers close every connection; we keep connections alive.
    if theirs.header("connection") != "close":
        problems.append(f"azmlinfsrv's Connection header is {theirs.header('connection')!r}, expected close")
    if ours.header("connection") not in (None, "keep-alive"):
        problems.append(f"our Connection header is {ours.header('connection')!r}")
    return problems


def compare(req: Req, theirs: Reply, ours: Reply) -> list[str]:
    """Human-readable differences; empty when the answers match up to the documented differences."""
    problems = transport_differences(theirs, ours)
    if theirs.status != ours.status:
        problems.append(f"status: azmlinfsrv {theirs.status}, ours {ours.status}")
    if theirs.body != ours.body:
        problems.append(f"body: azmlinfsrv {theirs.body[:300]!r}, ours {ours.body[:300]!r}")
    their_headers = normalised_headers(theirs, ours=False)
    our_headers = normalised_headers(ours, ours=True)
    if their_headers != our_headers:
        missing = [h for h in their_headers if h not in our_headers]
        extra = [h for h in our_headers if h not in their_headers]
        problems.append(f"headers: only azmlinfsrv {missing}, only ours {extra}")
    return [f"{req.label}: {problem}" for problem in problems]


def python_version_note() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"
