"""``python -m bench.gateway``: one upstream hit directly and through the gateway, side by side.

The upstream is the real scoring host serving the docs' sample model (``--upstream scoring``, default) or a
minimal fixed-answer server (``--upstream fast``) that makes the gateway's own cost the largest part. The gateway
runs standalone (``python -m endpointctl.serving.gateway``, uvloop) with key auth on and two deployments split
90/10 that both point at that one upstream, so direct and gateway runs load exactly the same model process.
Rounds alternate direct/gateway so each pair shares the machine's state at the time; medians are reported.
Needs ``wrk`` (Debian/Ubuntu package ``wrk``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.gateway.results import write_section
from bench.gateway.wrk import WrkResult, run_wrk, wrk_available
from endpointctl.backends.local.ports import free_port

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "assets" / "samples" / "endpoints" / "online" / "model-1"
KEY = "bench-primary-key-0123456789"


def _wait_ready(url: str, body: bytes, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            request = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not become ready within {timeout_s} s") from None
            time.sleep(0.2)


@contextmanager
def _process(cmd: list[str], **kwargs: object) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(cmd, text=True, **kwargs)  # type: ignore[call-overload]
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def _upstream(kind: str, body: bytes) -> Iterator[tuple[int, str]]:
    if kind == "scoring":
        port = free_port()
        cmd = [
            sys.executable, "-m", "endpointctl.serving.scoring",
            "--entry_script", str(SAMPLE / "onlinescoring" / "score.py"),
            "--model_dir", str(SAMPLE), "--host", "127.0.0.1", "--port", str(port),
        ]  # fmt: skip
        with _process(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
            _wait_ready(f"http://127.0.0.1:{port}/score", body)
            yield port, "endpointctl scoring host (sample model-1, sklearn, 1 worker)"
        return
    cmd = [sys.executable, str(Path(__file__).with_name("fast_upstream.py"))]
    with _process(cmd, stdout=subprocess.PIPE) as process:
        assert process.stdout is not None
        port = json.loads(process.stdout.readline())["port"]
        _wait_ready(f"http://127.0.0.1:{port}/score", body)
        yield port, "minimal fixed-answer asyncio server (bench/gateway/fast_upstream.py)"


@contextmanager
def _gateway(upstream_port: int, max_concurrent: int, mirror_pct: int = 0) -> Iterator[tuple[str, int]]:
    cmd = [sys.executable, "-m", "endpointctl.serving.gateway", "--admin-port", "0"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with _process(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env) as process:
        assert process.stdout is not None
        admin = f"http://127.0.0.1:{json.loads(process.stdout.readline())['admin_port']}"
        instance = {
            "instances": [f"127.0.0.1:{upstream_port}"],
            "max_concurrent_requests_per_instance": max_concurrent,
        }
        config = {
            "endpoints": {
                "bench": {
                    "auth_mode": "key",
                    "keys": [KEY, KEY + "-secondary"],
                    # With --mirror, blue takes every request and green gets a copy of mirror_pct% of them,
                    # whose answers the gateway compares with blue's (shadow diffing, as rollouts use it).
                    "traffic": {"blue": 100, "green": 0} if mirror_pct else {"blue": 90, "green": 10},
                    "mirror_traffic": {"green": mirror_pct} if mirror_pct else {},
                    "deployments": {"blue": instance, "green": instance},
                }
            }
        }
        request = urllib.request.Request(f"{admin}/v1/config", data=json.dumps(config).encode(), method="PUT")
        with urllib.request.urlopen(request, timeout=10) as response:
            scoring_uri: str = json.loads(response.read())["endpoints"]["bench"]["scoring_uri"]
        yield scoring_uri, process.pid
        with urllib.request.urlopen(f"{admin}/v1/metrics", timeout=10) as response:
            deps = json.loads(response.read())["endpoints"]["bench"]["deployments"]
        served = {name: deps[name]["by_class"]["2xx"] for name in ("blue", "green")}
        print(f"gateway served per deployment: {served}")
        if mirror_pct:
            print(f"mirrored to green: {deps['green'].get('shadow', {})}")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _table(direct_runs: list[WrkResult], gateway_runs: list[WrkResult], gateway_cpu_us: float) -> str:
    """Medians per column; the 'added' and 'ratio' rows are medians of per-round pairs, which ran back to back
    and so shared whatever else the machine was doing at the time."""
    med = statistics.median
    pairs = list(zip(direct_runs, gateway_runs, strict=True))
    rows = [
        (
            "requests/s (median)",
            *(f"{med(r.requests_per_s for r in rs):,.0f}" for rs in (direct_runs, gateway_runs)),
        ),
        (
            "p50 latency (ms, median)",
            *(f"{med(r.p50_ms for r in rs):.3f}" for rs in (direct_runs, gateway_runs)),
        ),
        (
            "p99 latency (ms, median)",
            *(f"{med(r.p99_ms for r in rs):.3f}" for rs in (direct_runs, gateway_runs)),
        ),
        ("added p50 (ms, median of pairs)", "", f"{med(g.p50_ms - d.p50_ms for d, g in pairs):+.3f}"),
        ("added p99 (ms, median of pairs)", "", f"{med(g.p99_ms - d.p99_ms for d, g in pairs):+.3f}"),
        (
            "throughput ratio (median of pairs)",
            "",
            f"{med(g.requests_per_s / d.requests_per_s for d, g in pairs):.1%}",
        ),
        (
            "errors (socket + non-2xx, all rounds)",
            *(str(sum(r.errors for r in rs)) for rs in (direct_runs, gateway_runs)),
        ),
        ("gateway CPU per request (µs, all rounds)", "", f"{gateway_cpu_us:.0f}"),
    ]
    lines = ["| metric | direct | through gateway |", "|---|---:|---:|"]
    lines += [f"| {name} | {d} | {g} |" for name, d, g in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway", description=__doc__)
    parser.add_argument("--upstream", choices=("scoring", "fast"), default="scoring")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument(
        "--mirror", type=int, default=0, metavar="PCT", help="mirror PCT%% of requests and diff the answers"
    )
    parser.add_argument(
        "--write-results", action="store_true", help="update the '## Gateway' part of bench/RESULTS.md"
    )
    args = parser.parse_args(argv)
    if not wrk_available():
        print(
            "wrk not found: install the Debian/Ubuntu package 'wrk' (apt-get install -y wrk)", file=sys.stderr
        )
        return 2

    body_text = (SAMPLE / "sample-request.json").read_text().strip()
    body = body_text.encode()
    headers = {"Content-Type": "application/json"}
    direct_runs: list[WrkResult] = []
    gateway_runs: list[WrkResult] = []
    gateway_cpu_s = 0.0
    with (
        _upstream(args.upstream, body) as (port, upstream_desc),
        _gateway(port, args.concurrency * 2, args.mirror) as (gw_url, gw_pid),
    ):
        direct_url = f"http://127.0.0.1:{port}/score"
        _wait_ready_auth(gw_url, body)
        wrk_opts = {"connections": args.concurrency, "threads": args.threads}
        run_wrk(direct_url, body_text, headers, seconds=2, **wrk_opts)  # warm-up both paths
        run_wrk(gw_url, body_text, {**headers, "Authorization": f"Bearer {KEY}"}, seconds=2, **wrk_opts)
        for i in range(args.rounds):
            direct, command = run_wrk(direct_url, body_text, headers, seconds=args.seconds, **wrk_opts)
            cpu_before = _cpu_seconds(gw_pid)
            via, _ = run_wrk(
                gw_url,
                body_text,
                {**headers, "Authorization": f"Bearer {KEY}"},
                seconds=args.seconds,
                **wrk_opts,
            )
            gateway_cpu_s += _cpu_seconds(gw_pid) - cpu_before
            direct_runs.append(direct)
            gateway_runs.append(via)
            print(
                f"round {i + 1}: direct {direct.requests_per_s:,.0f} req/s p50 {direct.p50_ms:.3f} ms | "
                f"gateway {via.requests_per_s:,.0f} req/s p50 {via.p50_ms:.3f} ms"
            )
    gateway_requests = sum(r.requests for r in gateway_runs)
    table = _table(direct_runs, gateway_runs, gateway_cpu_s / gateway_requests * 1e6)
    print()
    print(table)
    if args.write_results:
        load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
        machine = (
            f"{os.cpu_count()} cores, {platform.machine()}, Linux {platform.release()}, "
            f"Python {platform.python_version()}; load average at the end {load} (1/5/15 min)"
        )
        invocation = "python -m bench.gateway " + " ".join(argv if argv is not None else sys.argv[1:])
        write_section(
            REPO / "bench" / "RESULTS.md",
            upstream_kind=args.upstream
            + (f", mirror {args.mirror}% with answers compared" if args.mirror else ""),
            upstream_desc=upstream_desc,
            machine=machine,
            invocation=invocation.strip(),
            wrk_command=command,
            rounds=args.rounds,
            table=table,
        )
    return 0


def _wait_ready_auth(url: str, body: bytes) -> None:
    request = urllib.request.Request(
        url, data=body, headers={"content-type": "application/json", "authorization": f"Bearer {KEY}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status != 200:
            raise RuntimeError(f"gateway answered {response.status}")


if __name__ == "__main__":
    sys.exit(main())
