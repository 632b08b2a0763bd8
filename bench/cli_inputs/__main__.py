"""How long the CLI takes to refuse inputs that once read gigabytes or ate the machine, next to its start-up.

`python -m bench.cli_inputs`: runs the `endpointctl` console script, as a user does, in a scratch data directory
(no agent is started: each case is refused or validated before anything is looked up), ROUNDS times each, and
prints the median wall time. `--version` is the floor: the interpreter and the CLI's imports.

- `-f /dev/zero` and `--request-file /dev/zero`: read up to the bound (1 MiB, 32 MiB) and refused;
- a 9-level YAML alias bomb: refused at 100,000 values;
- a valid deployment spec just under 1 MiB (40,000 environment variables): parsed and validated in full.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "assets" / "samples" / "endpoints" / "online"
SAMPLE = SAMPLES / "managed" / "sample"
ENDPOINTCTL = Path(sys.executable).with_name("endpointctl")
ROUNDS = 5

ALIAS_BOMB = "name: bomb\na: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


def cases(scratch: Path) -> dict[str, tuple[list[str], int]]:
    bomb = scratch / "bomb.yml"
    bomb.write_text(ALIAS_BOMB)
    big = SAMPLE / ".bench-large-deployment.yml"  # next to the sample: its relative paths must resolve
    big.write_text(
        (SAMPLE / "blue-deployment.yml").read_text()
        + "environment_variables:\n"
        + "".join(f"  VAR_{i}: value-{i}\n" for i in range(40_000))
    )
    return {
        "--version (start-up floor)": (["--version"], 0),
        "online-endpoint show -f /dev/zero": (["online-endpoint", "show", "-f", "/dev/zero"], 2),
        "online-endpoint invoke --request-file /dev/zero": (
            ["online-endpoint", "invoke", "-n", "my-endpoint", "--request-file", "/dev/zero"],
            2,
        ),
        "online-endpoint show -f <9-level alias bomb>": (["online-endpoint", "show", "-f", str(bomb)], 2),
        f"online-deployment show -f <valid spec, {big.stat().st_size // 1024} KiB>": (
            ["online-deployment", "show", "-f", str(big), "-o", "none"],
            0,
        ),
    }


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-cli-inputs-") as scratch:
        env = {**os.environ, "ENDPOINTCTL_HOME": str(Path(scratch) / "home")}
        try:
            table = cases(Path(scratch))
            print(f"| case | exit | median wall (s, {ROUNDS} rounds) |\n|---|---:|---:|")
            for label, (args, expected) in table.items():
                times = []
                for _ in range(ROUNDS):
                    started = time.perf_counter()
                    done = subprocess.run(
                        [str(ENDPOINTCTL), *args], capture_output=True, env=env, timeout=120, check=False
                    )
                    times.append(time.perf_counter() - started)
                    if done.returncode != expected:
                        print(f"{label}: exit {done.returncode}, expected {expected}: {done.stderr!r}")
                        return 1
                print(f"| `{label}` | {expected} | {statistics.median(times):.2f} |")
        finally:
            (SAMPLE / ".bench-large-deployment.yml").unlink(missing_ok=True)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nmachine: {os.cpu_count()} cores, Python {platform.python_version()}; load average {load}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
