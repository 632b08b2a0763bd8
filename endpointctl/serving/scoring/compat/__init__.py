"""``azureml.contrib.services`` for scoring scripts, with or without azureml-inference-server-http.

Scripts import ``AMLRequest``/``rawhttp`` and ``AMLResponse`` from ``azureml.contrib.services``. Those
names are aliases the azmlinfsrv package installs at start-up. When that package (and Flask) is in
the environment we alias its real modules, so a script gets the Flask-based classes it was written
against; otherwise we alias ``compat.aml_request``/``compat.aml_response``, the same classes on
werkzeug alone (the scoring host's own dependency), so scripts get werkzeug's whole API either way.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import types
from collections.abc import Sequence
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


_PARENTS = ("azureml", "azureml.contrib", "azureml.contrib.services")


class _AliasLoader(importlib.abc.Loader):
    """Hands out an already-importable module under the alias name."""

    def __init__(self, target: str | None) -> None:
        self._target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        if self._target is None:
            # A bare parent package, only made when no real azureml namespace provides it.
            module = types.ModuleType(spec.name)
            module.__path__ = []
            return module
        return importlib.import_module(self._target)

    def exec_module(self, module: types.ModuleType) -> None:
        return None


class AliasFinder(importlib.abc.MetaPathFinder):
    """Resolves the ``azureml.contrib.services`` aliases lazily, on the script's first import.

    Lazy matters: the aliases import Flask or werkzeug, which costs a good part of a second per worker
    and is wasted on scripts that never use AMLRequest/AMLResponse.
    """

    def __init__(self, targets: dict[str, str]) -> None:
        self._targets = targets

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname in self._targets:
            # Like azmlinfsrv, the aliases win over any installed azureml-contrib-services.
            return importlib.machinery.ModuleSpec(fullname, _AliasLoader(self._targets[fullname]))
        if fullname in _PARENTS:
            # Never shadow a real azureml namespace (azureml-core & co.).
            if importlib.machinery.PathFinder.find_spec(fullname, path) is not None:
                return None
            return importlib.machinery.ModuleSpec(fullname, _AliasLoader(None), is_package=True)
        return None


def install(mode: Mode) -> None:
    """Register the alias finder; must run before the scoring script is imported."""
    if mode == "real":
        targets = {REQUEST_ALIAS: _REAL_REQUEST, RESPONSE_ALIAS: _REAL_RESPONSE}
    else:
        targets = {
            REQUEST_ALIAS: "endpointctl.serving.scoring.compat.aml_request",
            RESPONSE_ALIAS: "endpointctl.serving.scoring.compat.aml_response",
        }
    sys.meta_path.insert(0, AliasFinder(targets))


def rawhttp_requested() -> bool:
    """azmlinfsrv's rule: ``@rawhttp`` applied anywhere switches the server to raw requests."""
    for name in (REQUEST_ALIAS, _REAL_REQUEST):
        module = sys.modules.get(name)
        if module is not None and getattr(module, "_rawHttpRequested", False):
            return True
    return False
