"""run() returns a list of mixed JSON values."""


def init():
    pass


def run(data):
    return [1, 2.5, "three", None, True, {"n": len(data)}]
