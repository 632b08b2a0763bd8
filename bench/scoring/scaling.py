"""``python -m bench.scoring.scaling``: our host with 1 and with N workers, alternated, model-1 sample.

Prints requests/s for each and the ratio, with the CPU the server and the load generator used: on a 2-core
machine running wrk too, the two workers and wrk share the same cores, so the ratio is capped by what wrk
leaves over (the report says how many cores each side used).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.scoring import cpu, wrk
from bench.scoring.__main__ import BODY, _running, _servers, _url, load_average
from tests.serving.scoring import oracle_env


@dataclass(frozen=True)
class Sample:
    requests_per_s: float
    server_cores: float
    wrk_cores: float


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scoring.scaling", description=__doc__)
    parser.add_argument("--workers", type=int, default=2, help="the multi-worker count (default 2)")
    parser.add_argument("--concurrency", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--logs", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "bench-scaling")
    args = parser.parse_args(argv)
    args.logs.mkdir(parents=True, exist_ok=True)
    body = BODY.read_bytes()
    load_before = load_average()
    venv = oracle_env.ensure()
    servers = {
        count: _servers(venv, args.logs / str(count), ["endpointctl"], count)["endpointctl"]
        for count in (1, args.workers)
    }
    for count in servers:
        (args.logs / str(count)).mkdir(parents=True, exist_ok=True)
    samples: dict[int, list[Sample]] = {count: [] for count in servers}
    with _running({str(count): server for count, server in servers.items()}):
        for server in servers.values():
            wrk.run(_url(server), body, 4, 2)  # warm-up: run() moves onto the loop thread
        for _ in range(args.rounds):
            for count, server in servers.items():
                assert server.process is not None
                server_before, wrk_before = cpu.tree_seconds(server.process.pid), _children_cpu_s()
                result = wrk.run(_url(server), body, args.concurrency, args.duration)
                server_s = cpu.tree_seconds(server.process.pid) - server_before
                wrk_s = _children_cpu_s() - wrk_before
                samples[count].append(
                    Sample(result.requests_per_s, server_s / args.duration, wrk_s / args.duration)
                )
    print(
        f"scaling — model-1 sample, wrk c={args.concurrency} {args.duration}s, median of {args.rounds} "
        f"alternating rounds; {os.cpu_count()} cores; load average before {load_before}, after {load_average()}"
    )
    medians = {}
    for count, values in samples.items():
        rate = statistics.median(s.requests_per_s for s in values)
        medians[count] = rate
        print(
            f"{count} worker(s): {rate:,.0f} req/s; server used {statistics.median(s.server_cores for s in values):.2f} "
            f"cores, wrk {statistics.median(s.wrk_cores for s in values):.2f} cores"
        )
    print(
        f"{args.workers} workers / 1 worker: {medians[args.workers] / medians[1]:.2f}x (target ≥ 1.7x with the load generator on other cores)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
