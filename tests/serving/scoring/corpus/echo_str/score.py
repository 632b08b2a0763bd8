"""run() returns its input string unchanged: the server JSON-encodes it (a JSON body is double-encoded)."""


def init():
    pass


def run(data):
    return data
