"""Unicode in and out: non-ASCII text is escaped by json.dumps."""

import json


def init():
    pass


def run(data):
    try:
        value = json.loads(data)
    except ValueError:
        value = data
    return {"echo": value, "greeting": "grüß dich, 世界 🌍", "chars": len(data)}
