"""Side-by-side load test: azmlinfsrv 1.5 vs our scoring host, one worker each, model-1 sample."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from bench.scoring import wrk
from tests.serving.scoring import oracle_env
from tests.serving.scoring.servers import Server, fetch, free_port, scoring_env

MODEL_1 = oracle_env.REPO / "assets" / "samples" / "endpoints" / "online" / "model-1"
SCRIPT = MODEL_1 / "onlinescoring" / "score.py"
CONCURRENCY = (1, 16)


def _servers(venv: Path, logs: Path) -> dict[str, Server]:
    python = str(oracle_env.python(venv))
    env = scoring_env(SCRIPT.parent, MODEL_1, {"WORKER_COUNT": "1"})
    common = ["--entry_script", str(SCRIPT), "--worker_count", "1"]
    their_port, our_port = free_port(), free_port()
    return {
        "azmlinfsrv": Server(
            [python, "-m", "azureml_inference_server_http", *common, "--port", str(their_port)],
            env,
            SCRIPT.parent,
            their_port,
            logs / "azmlinfsrv.log",
        ),
        "endpointctl": Server(
            [
                python,
                "-m",
                "endpointctl.serving.scoring",
                *common,
                "--port",
                str(our_port),
                "--host",
                "127.0.0.1",
            ],
            oracle_env.environment(env),
            SCRIPT.parent,
            our_port,
            logs / "endpointctl.log",
        ),
    }


@contextlib.contextmanager
def _running(servers: dict[str, Server]) -> Iterator[None]:
    try:
        for server in servers.values():
            server.start()
        for name, server in servers.items():
            if not server.wait_ready():
                raise RuntimeError(f"{name} did not start:\n{server.output()}")
        yield
    finally:
        for server in servers.values():
            server.stop()


def _load() -> str:
    # Other work on the machine skews tail latency; the report says how busy it was.
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _url(server: Server) -> str:
    return f"http://127.0.0.1:{server.port}/score"


def _median(results: list[wrk.Result]) -> wrk.Result:
    return wrk.Result(
        statistics.median(r.requests_per_s for r in results),
        statistics.median(r.p50_ms for r in results),
        statistics.median(r.p99_ms for r in results),
        sum(r.errors for r in results),
    )


def _row(cells: Sequence[str]) -> str:
    widths = (5, 12, 12, 11, 11, 11, 9)
    return "  ".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=True))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scoring", description=__doc__)
    parser.add_argument("--duration", type=int, default=5, help="seconds per measurement (default 5)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating rounds; medians are shown (default 3)"
    )
    parser.add_argument("--logs", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "bench-scoring")
    args = parser.parse_args(argv)
    args.logs.mkdir(parents=True, exist_ok=True)

    body = (MODEL_1 / "sample-request.json").read_bytes()
    load_before = _load()
    venv = oracle_env.ensure()
    servers = _servers(venv, args.logs)
    rounds: dict[tuple[str, int], list[wrk.Result]] = {}
    with _running(servers):
        for name, server in servers.items():
            reply = fetch(server.port, "POST", "/score", body, {"Content-Type": "application/json"})
            if reply.status != 200:
                raise RuntimeError(f"{name} answered {reply.status}: {reply.body!r}")
            wrk.run(_url(server), body, 4, 2)  # warm-up: first-request costs
        # Alternate servers round by round so background load on the machine hits both alike.
        for _ in range(args.rounds):
            for concurrency in CONCURRENCY:
                for name, server in servers.items():
                    result = wrk.run(_url(server), body, concurrency, args.duration)
                    rounds.setdefault((name, concurrency), []).append(result)
    results = {key: _median(values) for key, values in rounds.items()}

    print(
        f"scoring host benchmark — model-1 sample, 1 worker each, wrk {args.duration}s per measurement, "
        f"median of {args.rounds} alternating rounds"
    )
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"
    )
    print(f"load average before: {load_before}, after: {_load()}")
    print()
    print(_row(["conc", "server", "req/s", "p50 ms", "p99 ms", "errors", "ratio"]))
    for concurrency in CONCURRENCY:
        theirs = results[("azmlinfsrv", concurrency)]
        for name in servers:
            result = results[(name, concurrency)]
            ratio = result.requests_per_s / theirs.requests_per_s
            cells = [
                str(concurrency),
                name,
                f"{result.requests_per_s:,.0f}",
                f"{result.p50_ms:.3f}",
                f"{result.p99_ms:.3f}",
                str(result.errors),
                f"{ratio:.2f}x",
            ]
            print(_row(cells))
    ours16, theirs16 = results[("endpointctl", 16)], results[("azmlinfsrv", 16)]
    print()
    print(
        f"c=16: {ours16.requests_per_s / theirs16.requests_per_s:.2f}x requests/s (target >= 2.5x); "
        f"our p99 {ours16.p99_ms:.3f} ms vs azmlinfsrv p50 {theirs16.p50_ms:.3f} ms "
        f"({'met' if ours16.p99_ms < theirs16.p50_ms else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
