"""run() blocks until a gate file exists, so a test can hold a request in flight."""

import os
import pathlib
import time


def init() -> None:
    marker = pathlib.Path(os.environ["GATE_DIR"]) / f"init-{os.getpid()}"
    marker.write_text("ready")


def run(data: str) -> dict[str, object]:
    gate = pathlib.Path(os.environ["GATE_DIR"]) / "open"
    for _ in range(2000):
        if gate.exists():
            break
        time.sleep(0.005)
    return {"pid": os.getpid(), "data": data}
