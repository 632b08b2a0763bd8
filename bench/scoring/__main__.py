"""Side-by-side load test: azmlinfsrv 1.5 vs our scoring host, one worker each, model-1 sample.

Besides requests/s and latency it reports what the host itself costs per request: the sample's run() alone is
timed in a loop in the same venv (a subprocess, same run), and the host's own cost is (1 / requests/s) minus
that run()-only time; the CPU columns read the server's process tree from /proc around each wrk run, which a
busy neighbour on a shared machine disturbs far less than requests/s.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.scoring import cpu, results_file, wrk
from tests.serving.scoring import oracle_env
from tests.serving.scoring.servers import Server, fetch, free_port, scoring_env

MODEL_1 = oracle_env.REPO / "assets" / "samples" / "endpoints" / "online" / "model-1"
SCRIPT = MODEL_1 / "onlinescoring" / "score.py"
BODY = MODEL_1 / "sample-request.json"
CONCURRENCY = (1, 16)
NOOP_SCRIPT = Path(__file__).with_name("noop_score.py")
# endpointctl-noop: our host serving a run() that does nothing, i.e. the host's own cost measured directly.
SERVERS = ("azmlinfsrv", "endpointctl", "endpointctl-noop")
RUN_ONLY_S = 3.0


@dataclass(frozen=True)
class Measurement:
    wrk: wrk.Result
    cpu_s: float

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_s / self.wrk.requests * 1e6 if self.wrk.requests else float("nan")


@dataclass(frozen=True)
class RunOnly:
    wall_us: float
    cpu_us: float


@dataclass(frozen=True)
class Row:
    concurrency: int
    server: str
    result: wrk.Result
    cpu_us: float

    def host_us(self, run_only: RunOnly) -> float:
        if self.server == "endpointctl-noop":
            return 1e6 / self.result.requests_per_s  # its run() costs nothing
        return 1e6 / self.result.requests_per_s - run_only.wall_us

    def host_cpu_us(self, run_only: RunOnly) -> float:
        if self.server == "endpointctl-noop":
            return self.cpu_us
        return self.cpu_us - run_only.cpu_us


def _servers(venv: Path, logs: Path, names: Sequence[str], workers: int) -> dict[str, Server]:
    python = str(oracle_env.python(venv))
    env = scoring_env(SCRIPT.parent, MODEL_1, {"WORKER_COUNT": str(workers)})
    common = ["--entry_script", str(SCRIPT), "--worker_count", str(workers)]
    servers: dict[str, Server] = {}
    if "azmlinfsrv" in names:
        port = free_port()
        servers["azmlinfsrv"] = Server(
            [python, "-m", "azureml_inference_server_http", *common, "--port", str(port)],
            env,
            SCRIPT.parent,
            port,
            logs / "azmlinfsrv.log",
        )
    for name, script in (("endpointctl", SCRIPT), ("endpointctl-noop", NOOP_SCRIPT)):
        if name not in names:
            continue
        port = free_port()
        servers[name] = Server(
            [
                python,
                "-m",
                "endpointctl.serving.scoring",
                "--entry_script",
                str(script),
                "--worker_count",
                str(workers),
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
            ],
            oracle_env.environment(env),
            SCRIPT.parent,
            port,
            logs / f"{name}.log",
        )
    return servers


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


def load_average() -> str:
    # Other work on the machine skews every figure; the report says how busy it was.
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def _url(server: Server) -> str:
    return f"http://127.0.0.1:{server.port}/score"


def run_only(venv: Path, seconds: float = RUN_ONLY_S) -> RunOnly:
    """The sample's run() in a loop, in a subprocess of the servers' venv python."""
    command = [
        str(oracle_env.python(venv)),
        str(Path(__file__).with_name("run_only.py")),
        str(SCRIPT),
        str(BODY),
        str(seconds),
    ]
    env = scoring_env(SCRIPT.parent, MODEL_1)
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"run()-only measurement failed:\n{done.stderr[-4000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return RunOnly(float(figures["wall_us"]), float(figures["cpu_us"]))


def _measure(server: Server, body: bytes, concurrency: int, duration: int) -> Measurement:
    assert server.process is not None
    before = cpu.tree_seconds(server.process.pid)
    result = wrk.run(_url(server), body, concurrency, duration)
    return Measurement(result, cpu.tree_seconds(server.process.pid) - before)


def _median(key: tuple[str, int], values: list[Measurement]) -> Row:
    results = [m.wrk for m in values]
    merged = wrk.Result(
        statistics.median(r.requests_per_s for r in results),
        statistics.median(r.p50_ms for r in results),
        statistics.median(r.p99_ms for r in results),
        sum(r.errors for r in results),
        sum(r.requests for r in results),
    )
    # CPU per request over all rounds: the most stable figure on a loaded machine.
    cpu_us = sum(m.cpu_s for m in values) / max(merged.requests, 1) * 1e6
    return Row(key[1], key[0], merged, cpu_us)


def _row(cells: Sequence[str]) -> str:
    widths = (5, 17, 9, 9, 9, 7, 8, 10, 10, 12)
    return "  ".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=True))


HEADINGS = [
    "conc",
    "server",
    "req/s",
    "p50 ms",
    "p99 ms",
    "errors",
    "ratio",
    "CPU µs/req",
    "host µs",
    "host CPU µs",
]


def _cells(row: Row, ratio: float | None, run_only_figures: RunOnly) -> list[str]:
    return [
        str(row.concurrency),
        row.server,
        f"{row.result.requests_per_s:,.0f}",
        f"{row.result.p50_ms:.3f}",
        f"{row.result.p99_ms:.3f}",
        str(row.result.errors),
        "" if ratio is None else f"{ratio:.2f}x",
        f"{row.cpu_us:.0f}",
        f"{row.host_us(run_only_figures):.0f}",
        f"{row.host_cpu_us(run_only_figures):.0f}",
    ]


def verdicts(rows: dict[tuple[str, int], Row], run_only_figures: RunOnly) -> list[str]:
    if ("endpointctl", 16) not in rows:
        return []
    ours16 = rows[("endpointctl", 16)]
    lines = [
        f"host's own cost at c=16: {ours16.host_us(run_only_figures):.0f} µs per request "
        f"(1/req/s − run() alone {run_only_figures.wall_us:.0f} µs; target ≤ 60 µs); "
        f"CPU: {ours16.cpu_us:.0f} µs per request, {ours16.host_cpu_us(run_only_figures):.0f} µs over run()'s "
        f"{run_only_figures.cpu_us:.0f} µs"
    ]
    if ("endpointctl-noop", 16) in rows:
        noop = rows[("endpointctl-noop", 16)]
        lines.append(
            f"host alone (no-op run()) at c=16: {noop.cpu_us:.0f} µs CPU per request, "
            f"{noop.result.requests_per_s:,.0f} req/s ({1e6 / noop.result.requests_per_s:.0f} µs per request)"
        )
    if ("azmlinfsrv", 16) in rows:
        theirs16, theirs1 = rows[("azmlinfsrv", 16)], rows[("azmlinfsrv", 1)]
        ratio16 = ours16.result.requests_per_s / theirs16.result.requests_per_s
        ours1 = rows[("endpointctl", 1)]
        ratio1 = ours1.result.requests_per_s / theirs1.result.requests_per_s
        p99_met = ours16.result.p99_ms < theirs16.result.p50_ms
        errors = sum(row.result.errors for row in rows.values())
        lines += [
            f"c=16: {ratio16:.2f}x requests/s (target ≥ 5x: {'met' if ratio16 >= 5 else 'NOT met'}); "
            f"c=1: {ratio1:.2f}x (target ≥ 3x: {'met' if ratio1 >= 3 else 'NOT met'})",
            f"c=16: our p99 {ours16.result.p99_ms:.3f} ms vs azmlinfsrv p50 {theirs16.result.p50_ms:.3f} ms "
            f"({'met' if p99_met else 'NOT met'}); errors in all rounds: {errors}",
        ]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scoring", description=__doc__)
    parser.add_argument("--duration", type=int, default=5, help="seconds per measurement (default 5)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating rounds; medians are shown (default 3)"
    )
    parser.add_argument("--worker-count", type=int, default=1, help="workers per server (default 1)")
    parser.add_argument(
        "--servers", nargs="+", choices=SERVERS, default=list(SERVERS), help="which servers (default both)"
    )
    parser.add_argument(
        "--write-results", action="store_true", help="replace the generated table in bench/RESULTS.md"
    )
    parser.add_argument("--logs", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "bench-scoring")
    args = parser.parse_args(argv)
    args.logs.mkdir(parents=True, exist_ok=True)

    body = BODY.read_bytes()
    started = datetime.datetime.now(datetime.UTC)
    load_before = load_average()
    venv = oracle_env.ensure()
    run_only_figures = run_only(venv)
    servers = _servers(venv, args.logs, args.servers, args.worker_count)
    rounds: dict[tuple[str, int], list[Measurement]] = {}
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
                    measurement = _measure(server, body, concurrency, args.duration)
                    rounds.setdefault((name, concurrency), []).append(measurement)
    load_after = load_average()
    rows = {key: _median(key, values) for key, values in rounds.items()}

    lines = [
        f"scoring host benchmark — model-1 sample, {args.worker_count} worker(s) each, wrk {args.duration}s per "
        f"measurement, median of {args.rounds} alternating rounds",
        f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}",
        f"load average (1/5/15 min) before: {load_before}, after: {load_after}",
        f"run() alone (same venv, loop in a subprocess): {run_only_figures.wall_us:.1f} µs wall, "
        f"{run_only_figures.cpu_us:.1f} µs CPU per call",
        "",
        _row(HEADINGS),
    ]
    for concurrency in CONCURRENCY:
        for name in servers:
            row = rows[(name, concurrency)]
            ratio = _ratio(rows, name, concurrency)
            lines.append(_row(_cells(row, ratio, run_only_figures)))
    lines.append("")
    lines += verdicts(rows, run_only_figures)
    print("\n".join(lines))

    if args.write_results:
        command = "python -m bench.scoring " + " ".join(argv if argv is not None else sys.argv[1:])
        block = results_file.markdown(
            started=started,
            command=command.strip(),
            machine=f"{os.cpu_count()} cores, {platform.machine()}, Linux {platform.release()}, "
            f"Python {platform.python_version()}",
            load=(load_before, load_after),
            run_only_line=lines[3],
            headings=HEADINGS,
            rows=[
                _cells(rows[(name, c)], _ratio(rows, name, c), run_only_figures)
                for c in CONCURRENCY
                for name in servers
            ],
            verdicts=verdicts(rows, run_only_figures),
        )
        path = oracle_env.REPO / "bench" / "RESULTS.md"
        path.write_text(results_file.replace_block(path.read_text(), block))
        print(f"\nwritten to {path}")
    return 0


def _ratio(rows: dict[tuple[str, int], Row], name: str, concurrency: int) -> float | None:
    theirs = rows.get(("azmlinfsrv", concurrency))
    if theirs is None or name == "endpointctl-noop":
        return None
    return rows[(name, concurrency)].result.requests_per_s / theirs.result.requests_per_s


if __name__ == "__main__":
    sys.exit(main())
