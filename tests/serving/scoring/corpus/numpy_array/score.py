"""run() returns a numpy array: not JSON-serialisable, so the server answers 500."""

import numpy


def init():
    pass


def run(data):
    return numpy.arange(4)
