"""``python -m bench.gateway.hop``: the gateway's hop to an instance over loopback TCP vs a Unix socket.

One upstream process listens both ways (the fast fixed-answer server, so the hop is a large part of each
request; or ``--upstream scoring``: two scoring hosts of the sample model, one per transport). One standalone
gateway serves two endpoints, ``tcp`` routed to ``127.0.0.1:port`` and ``uds`` to ``unix:/path``; wrk loads
them in alternating rounds, and the ratio of each back-to-back pair is reported with the gateway's CPU per
request on each path. The local backends route over Unix sockets since instances stopped listening on TCP.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench.gateway.__main__ import KEY, REPO, SAMPLE, _cpu_seconds, _process, _wait_ready, _wait_ready_auth
from bench.gateway.wrk import WrkResult, run_wrk, wrk_available
from endpointctl.backends.local.ports import free_port


@contextmanager
def _upstreams(kind: str, body: bytes, socket_path: str) -> Iterator[tuple[str, str]]:
    """The TCP address and the Unix-socket address of the upstream(s)."""
    if kind == "fast":
        cmd = [sys.executable, str(Path(__file__).with_name("fast_upstream.py")), "0", socket_path]
        with _process(cmd, stdout=subprocess.PIPE) as process:
            assert process.stdout is not None
            port = json.loads(process.stdout.readline())["port"]
            _wait_ready(f"http://127.0.0.1:{port}/score", body)
            yield f"127.0.0.1:{port}", f"unix:{socket_path}"
        return
    port = free_port()
    host = [
        sys.executable, "-m", "endpointctl.serving.scoring",
        "--entry_script", str(SAMPLE / "onlinescoring" / "score.py"), "--model_dir", str(SAMPLE),
    ]  # fmt: skip
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    with ExitStack() as stack:
        stack.enter_context(_process([*host, "--host", "127.0.0.1", "--port", str(port)], **quiet))
        stack.enter_context(_process([*host, "--uds", socket_path], **quiet))
        _wait_ready(f"http://127.0.0.1:{port}/score", body)
        yield f"127.0.0.1:{port}", f"unix:{socket_path}"


@contextmanager
def _gateway(addresses: dict[str, str], max_concurrent: int) -> Iterator[tuple[dict[str, str], int]]:
    cmd = [sys.executable, "-m", "endpointctl.serving.gateway", "--admin-port", "0"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with _process(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env) as process:
        assert process.stdout is not None
        admin = f"http://127.0.0.1:{json.loads(process.stdout.readline())['admin_port']}"
        endpoints = {
            name: {
                "auth_mode": "key",
                "keys": [KEY],
                "traffic": {"blue": 100},
                "deployments": {
                    "blue": {"instances": [address], "max_concurrent_requests_per_instance": max_concurrent}
                },
            }
            for name, address in addresses.items()
        }
        data = json.dumps({"endpoints": endpoints}).encode()
        request = urllib.request.Request(f"{admin}/v1/config", data=data, method="PUT")
        with urllib.request.urlopen(request, timeout=10) as response:
            served = json.loads(response.read())["endpoints"]
        yield {name: served[name]["scoring_uri"] for name in addresses}, process.pid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway.hop", description=__doc__)
    parser.add_argument("--upstream", choices=("fast", "scoring"), default="fast")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args(argv)
    if not wrk_available():
        print("wrk not found: install the Debian/Ubuntu package 'wrk'", file=sys.stderr)
        return 2
    body_text = (SAMPLE / "sample-request.json").read_text().strip()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"}
    runs: dict[str, list[WrkResult]] = {"tcp": [], "uds": []}
    cpu: dict[str, float] = {"tcp": 0.0, "uds": 0.0}
    with (
        tempfile.TemporaryDirectory(prefix="hop-") as folder,
        _upstreams(args.upstream, body_text.encode(), f"{folder}/s.sock") as (tcp, uds),
        _gateway({"tcp": tcp, "uds": uds}, args.concurrency * 2) as (uris, pid),
    ):
        opts = {"connections": args.concurrency, "threads": args.threads}
        for uri in uris.values():
            _wait_ready_auth(uri, body_text.encode())
            run_wrk(uri, body_text, headers, seconds=2, **opts)  # warm-up
        for i in range(args.rounds):
            # Alternate which path goes first, so neither always follows the other's leftovers.
            order = ("tcp", "uds") if i % 2 == 0 else ("uds", "tcp")
            for name in order:
                before = _cpu_seconds(pid)
                result, command = run_wrk(uris[name], body_text, headers, seconds=args.seconds, **opts)
                cpu[name] += _cpu_seconds(pid) - before
                runs[name].append(result)
            tcp_run, uds_run = runs["tcp"][-1], runs["uds"][-1]
            print(
                f"round {i + 1}: tcp {tcp_run.requests_per_s:,.0f} req/s p50 {tcp_run.p50_ms:.3f} ms | "
                f"uds {uds_run.requests_per_s:,.0f} req/s p50 {uds_run.p50_ms:.3f} ms"
            )
    med = statistics.median
    pairs = list(zip(runs["tcp"], runs["uds"], strict=True))
    per_request = {name: cpu[name] / sum(r.requests for r in runs[name]) * 1e6 for name in runs}
    rows = [
        ("requests/s (median)", *(f"{med(r.requests_per_s for r in runs[n]):,.0f}" for n in runs)),
        ("p50 latency (ms, median)", *(f"{med(r.p50_ms for r in runs[n]):.3f}" for n in runs)),
        ("p99 latency (ms, median)", *(f"{med(r.p99_ms for r in runs[n]):.3f}" for n in runs)),
        ("gateway CPU per request (µs)", *(f"{per_request[n]:.0f}" for n in runs)),
        ("errors (all rounds)", *(str(sum(r.errors for r in runs[n])) for n in runs)),
        ("uds / tcp throughput (median of pairs)", "", f"{med(u.requests_per_s / t.requests_per_s for t, u in pairs):.1%}"),
    ]  # fmt: skip
    print(f"\nwrk: {command}\nload average at the end: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| metric | hop over TCP | hop over a Unix socket |\n|---|---:|---:|")
    for name, tcp_value, uds_value in rows:
        print(f"| {name} | {tcp_value} | {uds_value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
