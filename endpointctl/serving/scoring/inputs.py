"""Turning an HTTP request into run()'s keyword arguments, with azmlinfsrv's 400/415 rules."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from endpointctl.serving.scoring.messages import Request
from endpointctl.serving.scoring.script import InputMode, UserScript

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class InputError(Exception):
    """The request cannot be turned into run() arguments; ``status`` is the answer's code."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class UnsupportedMethod(Exception):
    """Neither GET nor POST: OPTIONS answers 200, anything else 405."""


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def parse_query(request: Request) -> list[tuple[str, str]]:
    return parse_qsl(request.query, keep_blank_values=True, errors="replace")


def query_parameters(request: Request) -> dict[str, Any]:
    """Query parameters as JSON values; a repeated name becomes a list (order of first appearance)."""
    grouped: dict[str, list[str]] = {}
    for name, value in parse_query(request):
        grouped.setdefault(name, []).append(value)
    return {
        name: _json_or_text(values[0]) if len(values) == 1 else [_json_or_text(v) for v in values]
        for name, values in grouped.items()
    }


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def _schema_arguments(parameters: tuple[inspect.Parameter, ...], body: dict[str, Any]) -> dict[str, Any]:
    arguments: dict[str, Any] = {}
    for parameter in parameters:
        value = body.get(parameter.name, parameter.default)
        if value is inspect.Parameter.empty:
            raise InputError(400, f"A value is not provided for the {parameter.name!r} parameter.")
        arguments[parameter.name] = value
    return arguments


def _string_arguments(script: UserScript, request: Request) -> dict[str, Any]:
    name = script.parameters[0].name
    if request.method == "GET":
        return {name: json.dumps(query_parameters(request))}
    # werkzeug hands form bodies to its form parser, so Flask's ``request.data`` is empty for them.
    body = b"" if request.mimetype in _FORM_TYPES else request.body
    try:
        return {name: body.decode("utf-8")}
    except UnicodeDecodeError as ex:
        raise InputError(400, f"Input cannot be decoded as UTF-8: {ex}") from None


def _schema_post_arguments(script: UserScript, request: Request) -> dict[str, Any]:
    if not _is_json(request.mimetype):
        raise InputError(415, "Expects Content-Type to be application/json")
    try:
        body = json.loads(request.body)
    except ValueError as ex:
        # json.loads raises UnicodeDecodeError (a ValueError) for undecodable bytes, as Flask's does.
        if request.body:
            raise InputError(400, f"POST body could not be decoded as JSON: {ex}") from None
        raise InputError(400, "POST body is empty. Expecting a JSON dictionary.") from None
    if not isinstance(body, dict):
        raise InputError(400, "POST body should be a JSON dictionary.")
    return _schema_arguments(script.parameters, body)


def arguments(script: UserScript, request: Request, raw_request: Callable[[Request], Any]) -> dict[str, Any]:
    """run()'s keyword arguments (without request_headers). ``raw_request`` builds the @rawhttp object."""
    if script.mode is InputMode.RAW:
        # azmlinfsrv hands every method that reaches /score (OPTIONS too) to a @rawhttp run().
        return {script.parameters[0].name: raw_request(request)}
    if request.method not in ("GET", "POST"):
        raise UnsupportedMethod(request.method)
    if script.mode is InputMode.STRING:
        return _string_arguments(script, request)
    if request.method == "GET":
        return _schema_arguments(script.parameters, query_parameters(request))
    return _schema_post_arguments(script, request)
