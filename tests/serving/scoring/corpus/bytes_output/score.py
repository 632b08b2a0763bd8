"""run() returns bytes (not JSON-serialisable) or a str holding JSON, depending on the body."""

import json


def init():
    pass


def run(data):
    if data == "string":
        return json.dumps({"already": "json"})
    return data.encode("utf-8")
