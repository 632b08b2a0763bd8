"""Undecorated run() on GET: the query parameters arrive as a JSON string."""


def init():
    pass


def run(data):
    return {"raw": data}
