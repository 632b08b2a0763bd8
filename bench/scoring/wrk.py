"""Driving ``wrk`` (Debian package ``wrk``) and reading its latency distribution."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_PERCENTILE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)
_RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_TOTAL = re.compile(r"^\s*(\d+) requests in ", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: (.*)")


class LoadError(RuntimeError):
    pass


@dataclass(frozen=True)
class Result:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    # All requests wrk completed (for CPU per request); 0 when wrk's summary line was missing.
    requests: int = 0


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise LoadError("wrk is not installed: apt-get install -y wrk")
    return found


def _lua(body: bytes, content_type: str) -> str:
    # Lua long brackets keep the JSON body verbatim.
    text = body.decode("utf-8")
    return f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "{content_type}"\nwrk.body = [==[{text}]==]\n'


def parse(output: str) -> Result:
    rate = _RATE.search(output)
    percentiles = {
        match.group(1): float(match.group(2)) * _UNITS[match.group(3)]
        for match in _PERCENTILE.finditer(output)
    }
    if rate is None or set(percentiles) != {"50", "99"}:
        raise LoadError(f"cannot read wrk's report:\n{output}")
    non_2xx = _NON_2XX.search(output)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    socket_errors = _SOCKET_ERRORS.search(output)
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    total = _TOTAL.search(output)
    requests = int(total.group(1)) if total else 0
    return Result(float(rate.group(1)), percentiles["50"], percentiles["99"], errors, requests)


def run(url: str, body: bytes, concurrency: int, duration_s: int, threads: int = 2) -> Result:
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "post.lua"
        script.write_text(_lua(body, "application/json"))
        command = [
            wrk_path(),
            f"-t{min(threads, concurrency)}",
            f"-c{concurrency}",
            f"-d{duration_s}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ]
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise LoadError(f"wrk failed ({completed.returncode}): {completed.stderr}")
    return parse(completed.stdout)
