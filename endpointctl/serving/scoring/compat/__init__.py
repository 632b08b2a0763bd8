"""``azureml.contrib.services`` for scoring scripts, with or without azureml-inference-server-http.

Scripts import ``AMLRequest``/``rawhttp`` and ``AMLResponse`` from ``azureml.contrib.services``. Those
names are aliases the azmlinfsrv package installs at start-up. When that package (and Flask) is in
the environment we alias its real modules, so a script gets the Flask-based classes it was written
against; otherwise we alias Flask-free shims with the same surface.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types
from typing import Literal

REQUEST_ALIAS = "azureml.contrib.services.aml_request"
RESPONSE_ALIAS = "azureml.contrib.services.aml_response"
_REAL_REQUEST = "azureml_inference_server_http.api.aml_request"
_REAL_RESPONSE = "azureml_inference_server_http.api.aml_response"

Mode = Literal["shim", "real"]


def _real_available() -> bool:
    try:
        return (
            importlib.util.find_spec("azureml_inference_server_http") is not None
            and importlib.util.find_spec("flask") is not None
        )
    except (ImportError, ValueError):
        return False


def choose_mode(environ: os._Environ[str] | dict[str, str]) -> Mode:
    wanted = environ.get("ENDPOINTCTL_AML_COMPAT", "auto").lower()
    if wanted == "shim":
        return "shim"
    if wanted == "real" or (wanted == "auto" and _real_available()):
        return "real"
    return "shim"


def _ensure_parent_packages() -> None:
    # Only when no real azureml namespace provides them: never shadow azureml-core & co.
    for name in ("azureml", "azureml.contrib", "azureml.contrib.services"):
        if name in sys.modules:
            continue
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if found:
            continue
        module = types.ModuleType(name)
        module.__path__ = []
        sys.modules[name] = module


def install(mode: Mode) -> None:
    """Register the alias modules; must run before the scoring script is imported."""
    if mode == "real":
        request_module = importlib.import_module(_REAL_REQUEST)
        response_module = importlib.import_module(_REAL_RESPONSE)
    else:
        from endpointctl.serving.scoring.compat import aml_request, aml_response

        request_module, response_module = aml_request, aml_response
    _ensure_parent_packages()
    sys.modules[REQUEST_ALIAS] = request_module
    sys.modules[RESPONSE_ALIAS] = response_module


def rawhttp_requested() -> bool:
    """azmlinfsrv's rule: ``@rawhttp`` applied anywhere switches the server to raw requests."""
    for name in (REQUEST_ALIAS, _REAL_REQUEST):
        module = sys.modules.get(name)
        if module is not None and getattr(module, "_rawHttpRequested", False):
            return True
    return False
