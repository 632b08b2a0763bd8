"""run() parses the body and returns a dict built from it."""

import json


def init():
    pass


def run(raw):
    try:
        payload = json.loads(raw)
    except ValueError:
        return {"error": "not json", "length": len(raw)}
    return {"received": payload, "type": type(payload).__name__}
