"""A plain JSON script that reports which web frameworks the worker process has imported."""

import sys


def init() -> None:
    pass


def run(data: str) -> list[str]:
    return sorted(name for name in sys.modules if name.split(".")[0] in ("werkzeug", "flask"))
