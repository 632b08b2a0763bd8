"""Summarises large bodies so the answer stays small."""

import hashlib


def init():
    pass


def run(data):
    return {"length": len(data), "sha256": hashlib.sha256(data.encode("utf-8")).hexdigest()}
