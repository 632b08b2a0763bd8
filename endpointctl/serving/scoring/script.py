"""Loading the user's scoring script and deciding how its run() is called, as azmlinfsrv does."""

from __future__ import annotations

import enum
import importlib
import importlib.util
import inspect
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from endpointctl.serving.scoring import compat

logger = logging.getLogger("azmlinfsrv.user_script")


class ScriptError(Exception):
    """The script cannot be served: it failed to import, or init()/run() are missing or malformed."""


class InputMode(enum.Enum):
    # run(<str>): the body decoded as UTF-8, or the query string as a JSON object string.
    STRING = "string"
    # @input_schema: keyword arguments taken from a JSON object.
    SCHEMA = "schema"
    # @rawhttp: the request object itself.
    RAW = "raw"


@dataclass(frozen=True, slots=True)
class UserScript:
    module: ModuleType
    init: Callable[[], Any]
    run: Callable[..., Any]
    mode: InputMode
    # The parameter names run() takes its input through (one for STRING/RAW, all for SCHEMA).
    parameters: tuple[inspect.Parameter, ...]
    wants_headers: bool

    def call(self, kwargs: dict[str, Any], headers: dict[str, str]) -> Any:
        if self.wants_headers:
            return self.run(**kwargs, request_headers=headers)
        return self.run(**kwargs)


def _import(path: Path | None) -> ModuleType:
    if path is None:
        # azmlinfsrv's fallback when no entry script is configured: ``main`` from the app root.
        return importlib.import_module("main")
    spec = importlib.util.spec_from_file_location("entry_module", path)
    if spec is None or spec.loader is None:
        raise ScriptError(f"Cannot load a Python module from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _schema_decorated(func: Callable[..., Any]) -> bool:
    # inference-schema is the user's dependency, not ours: only consult it when it is installed.
    try:
        schema_util = importlib.import_module("inference_schema.schema_util")
    except ImportError:
        return False
    return bool(schema_util.is_schema_decorated(func))


def analyse(module: ModuleType) -> UserScript:
    """Check init()/run() and pick the calling convention."""
    where = getattr(module, "__file__", module.__name__)
    if not hasattr(module, "init"):
        raise ScriptError(f"User script at {where} does not have a init() function defined.")
    if not hasattr(module, "run"):
        raise ScriptError(f"User script at {where} does not have a run() function defined.")
    run = module.run
    # Generated driver scripts forward to the real score script; azmlinfsrv calls the latter's run()
    # directly because drivers drop inference-schema keyword arguments.
    driver = getattr(module, "driver_module", None)
    if isinstance(driver, ModuleType) and hasattr(driver, "run"):
        run = driver.run

    params = list(inspect.signature(run).parameters.values())
    allowed = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(param.kind not in allowed for param in params):
        raise ScriptError("run() cannot accept positional-only arguments, *args, or **kwargs.")
    wants_headers = any(param.name == "request_headers" for param in params)
    params = [param for param in params if param.name != "request_headers"]
    if not params:
        if wants_headers:
            raise ScriptError('run() needs to accept an argument other than "request_headers".')
        raise ScriptError("run() needs to accept an argument for input data.")

    raw = compat.rawhttp_requested()
    decorated = _schema_decorated(run)
    if raw and decorated:
        raise ScriptError("run() cannot be decorated with both @rawhttp and @input_schema")
    if raw:
        mode, used = InputMode.RAW, params[:1]
        logger.info("run() is decorated with @rawhttp. Server will invoke it with the request object.")
    elif decorated:
        mode, used = InputMode.SCHEMA, params
        names = ", ".join(param.name for param in params)
        logger.info(
            f"run() is decorated with @input_schema. Server will invoke it with the following arguments: {names}."
        )
    else:
        mode, used = InputMode.STRING, params[:1]
        logger.info("run() is not decorated. Server will invoke it with the input in JSON string.")
    return UserScript(module, module.init, run, mode, tuple(used), wants_headers)


def load(path: Path | None, search_paths: list[Path]) -> UserScript:
    """Import the script with its folder(s) on sys.path; any import failure becomes ScriptError."""
    for folder in search_paths:
        text = str(folder)
        if text not in sys.path:
            sys.path.append(text)
    try:
        module = _import(path)
    except BaseException as ex:
        raise ScriptError("Failed to import user script because it raised an unhandled exception") from ex
    script = analyse(module)
    logger.info(f"Found user script at {getattr(module, '__file__', module.__name__)}")
    return script
