"""run() sleeps longer than SCORING_TIMEOUT_MS when asked to."""

import time


def init():
    pass


def run(data):
    if data == "slow":
        time.sleep(1.5)
    return {"done": data}
