"""azmlinfsrv's ``aml_request`` module on werkzeug alone: ``rawhttp``, ``AMLRequest`` and the request run() gets.

Imported only through the ``azureml.contrib.services.aml_request`` alias (or by the worker once a script
asked for ``@rawhttp``), so a JSON-only script never loads werkzeug.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import werkzeug.wrappers
from werkzeug.exceptions import BadRequest, HTTPException
from werkzeug.routing import Map, Rule

F = TypeVar("F", bound=Callable[..., Any])

# azmlinfsrv keeps this module-level flag; scripts and the host both read it under this name.
_rawHttpRequested = False


def rawhttp(func: F) -> F:
    """Ask the host to call run() with the request object instead of the decoded body."""
    global _rawHttpRequested
    _rawHttpRequested = True
    return func


class AMLRequest(werkzeug.wrappers.Request):
    """The type scripts import for annotations; like azmlinfsrv's, the server never instantiates it.

    azmlinfsrv hands run() Flask's request object, which is a ``Request``, not an ``AMLRequest``.
    """


def score_rule() -> Rule:
    """The URL rule Flask matched for azmlinfsrv's /score view (its blueprint is ``main``)."""
    rule = Rule("/score", endpoint="main.handle_score", methods=["GET", "POST", "OPTIONS"])
    Map([rule])  # binds it, as Flask's url_map does
    return rule


class Request(werkzeug.wrappers.Request):
    """What a ``@rawhttp`` run() receives: werkzeug's request with the few behaviours Flask changes.

    Named ``Request`` like Flask's class, so ``repr(request)`` and ``type(request).__name__`` read the same.
    """

    # Flask's routing results; the host sets url_rule and view_args as Flask's /score dispatch does.
    url_rule: Rule | None = None
    view_args: dict[str, Any] | None = None
    routing_exception: HTTPException | None = None

    @property
    def endpoint(self) -> str | None:
        return self.url_rule.endpoint if self.url_rule is not None else None

    @property
    def blueprint(self) -> str | None:
        endpoint = self.endpoint
        return endpoint.rpartition(".")[0] if endpoint is not None and "." in endpoint else None

    @property
    def blueprints(self) -> list[str]:
        # Flask lists nested blueprints innermost first; azmlinfsrv has one, "main".
        name = self.blueprint
        if name is None:
            return []
        parts = name.split(".")
        return [".".join(parts[:index]) for index in range(len(parts), 0, -1)]

    def on_json_loading_failed(self, e: ValueError | None) -> NoReturn:
        # Flask (outside debug mode) drops werkzeug's "Failed to decode JSON object: ..." description.
        try:
            super().on_json_loading_failed(e)
        except BadRequest as ebr:
            raise BadRequest() from ebr
        raise AssertionError("werkzeug's on_json_loading_failed always raises")
