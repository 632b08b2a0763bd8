"""`python -m bench` (`make bench`): every benchmark in turn, each printing its own side-by-side table."""

from __future__ import annotations

import subprocess
import sys

BENCHES = ("bench.scoring", "bench.gateway", "bench.rollout", "bench.invoke", "bench.tui", "bench.cli_inputs")


def main() -> int:
    failed = []
    for module in BENCHES:
        print(f"\n=== {module}", flush=True)
        if subprocess.run([sys.executable, "-m", module], check=False).returncode != 0:
            failed.append(module)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
