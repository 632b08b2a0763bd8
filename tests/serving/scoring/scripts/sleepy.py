"""run() answers at once, except ``sleep`` which blocks in C (time.sleep) far past any test's timeout."""

import time


def init() -> None:
    pass


def run(data: str) -> dict[str, str]:
    if data == "sleep":
        time.sleep(600)
    return {"done": data}
