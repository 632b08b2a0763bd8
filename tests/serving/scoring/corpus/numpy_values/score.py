"""Numpy outputs by request: tolist(), float64 (a float subclass), int64 (not serialisable), nan."""

import json

import numpy


def init():
    pass


def run(data):
    kind = json.loads(data or "{}").get("kind", "list")
    if kind == "float64":
        return numpy.float64(2.5)
    if kind == "int64":
        return numpy.int64(7)
    if kind == "nan":
        return [float("nan"), float("inf")]
    return (numpy.arange(6).reshape(2, 3) * 1.5).tolist()
