"""Prints and logs in init() and run(); the responses are unaffected."""

import logging
import sys


def init():
    print("init: hello from print")
    logging.getLogger("user").warning("init: a warning")


def run(data):
    print("run:", data)
    print("run to stderr", file=sys.stderr)
    return {"printed": True}
