"""Undecorated script shipping its own swagger.json and swagger3.json in the app root."""


def init():
    pass


def run(data):
    return {"n": len(data)}
