"""The scoring script's run() alone, called in a loop: the floor a scoring host cannot go under.

Started by ``python -m bench.scoring`` with the servers' venv python, so the same numpy/sklearn builds are
timed. Prints one JSON line: wall and CPU microseconds per call.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path


def main(script: str, body_file: str, seconds: float) -> None:
    path = Path(script)
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("entry_module", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.init()
    # Both hosts hand a plain run(raw_data) the body decoded as UTF-8.
    data = Path(body_file).read_bytes().decode("utf-8")
    run = module.run
    for _ in range(200):  # warm-up: first-call costs (imports, caches)
        run(data)
    calls = 0
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    deadline = wall_start + seconds
    while time.perf_counter() < deadline:
        for _ in range(100):
            run(data)
        calls += 100
    wall = time.perf_counter() - wall_start
    cpu = time.process_time() - cpu_start
    print(json.dumps({"calls": calls, "wall_us": wall / calls * 1e6, "cpu_us": cpu / calls * 1e6}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
