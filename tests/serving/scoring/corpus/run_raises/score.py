"""run() raises: the server answers 500 with x-ms-run-function-failed True."""


def init():
    pass


def run(data):
    if data == "ok":
        return "fine"
    raise ValueError(f"bad input: {data!r}")
