"""Undecorated run() with request_headers: it sees Title-Case header names, duplicates joined."""


def init():
    pass


def run(data, request_headers):
    wanted = ("Content-Type", "X-Custom", "X-Request-Id", "Traceid", "X-Ms-Client-Request-Id")
    return {"data": data, "headers": {name: request_headers.get(name) for name in wanted}}
