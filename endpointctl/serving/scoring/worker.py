"""One worker process: load the script, run init(), then serve on the shared socket with uvicorn."""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import sys
import traceback
from pathlib import Path
from typing import Any

import uvicorn

from endpointctl.serving import limits
from endpointctl.serving.scoring import compat, logs
from endpointctl.serving.scoring.app import Scoring, ScoringApp
from endpointctl.serving.scoring.compat.wsgi import request_factory
from endpointctl.serving.scoring.config import Settings
from endpointctl.serving.scoring.invoker import Invoker
from endpointctl.serving.scoring.messages import Request
from endpointctl.serving.scoring.protocol import limited_protocol, uvicorn_limit_settings
from endpointctl.serving.scoring.script import InputMode, ScriptError, UserScript, load
from endpointctl.serving.scoring.swagger import Service, SwaggerDocuments

logger = logging.getLogger("azmlinfsrv")

# azmlinfsrv's exit status when the script cannot be loaded or its init() fails.
EXIT_INIT_FAILED = 3


def _search_paths(settings: Settings) -> list[Path]:
    paths = [settings.app_root]
    if settings.source_dir:
        paths.append(settings.app_root / settings.source_dir)
    if settings.entry_script is not None:
        paths.append(settings.script_path().parent)
    return paths


def _no_raw_request(request: Request) -> Any:
    raise AssertionError("only a @rawhttp run() is given the request object")


def _raw_request_factory(mode: compat.Mode, script: UserScript) -> Any:
    # Only @rawhttp scripts need werkzeug, and they imported it already: the JSON path never loads it.
    if script.mode is not InputMode.RAW:
        return _no_raw_request
    return request_factory(mode)


def prepare(settings: Settings) -> Scoring:
    """Everything up to a ready app. Raises ScriptError when the script cannot serve."""
    mode = compat.choose_mode(os.environ)
    compat.install(mode)
    logs.redirect_print()
    path = settings.script_path() if settings.entry_script is not None else None
    script = load(path, _search_paths(settings))
    logger.info("Invoking user's init function")
    try:
        script.init()
    except BaseException as ex:
        raise ScriptError("User's init function failed") from ex
    logger.info("Users's init has completed successfully")
    service = Service(settings.service_name, settings.service_version, settings.service_path_prefix)
    swagger = SwaggerDocuments(settings.app_root, script.run, service)
    invoker = Invoker(settings.max_concurrent, settings.scoring_timeout_ms)
    return Scoring(script, swagger, invoker, _raw_request_factory(mode, script), settings.server_version)


def _uvicorn_config(app: ScoringApp) -> uvicorn.Config:
    # Checked by __main__ before any worker starts, so a bad variable is reported once.
    wire = limits.from_env(os.environ)
    http: Any = limited_protocol(wire) if importlib.util.find_spec("httptools") else "h11"
    return uvicorn.Config(
        app,
        loop="auto",  # uvloop when importable
        http=http,
        **uvicorn_limit_settings(wire),
        lifespan="off",
        access_log=False,
        log_config=None,
        server_header=False,
        # gunicorn (azmlinfsrv) never rewrites the client address or scheme from X-Forwarded-* headers.
        proxy_headers=False,
        date_header=True,
        backlog=2048,
    )


def serve(settings: Settings, sock: socket.socket) -> int:
    """Run one worker until it is told to stop; the process exit status."""
    try:
        scoring = prepare(settings)
    except ScriptError as ex:
        logger.error(f"{ex}\n{''.join(traceback.format_exception(ex))}")
        _log_model_dir(settings)
        return EXIT_INIT_FAILED
    logger.info(f"Scoring timeout is set to {settings.scoring_timeout_ms}")
    logger.info(f"Worker with pid {os.getpid()} ready for serving traffic")
    server = uvicorn.Server(_uvicorn_config(ScoringApp(scoring, settings.instance_token)))
    try:
        server.run(sockets=[sock])
    finally:
        scoring.invoker.shutdown()
    return 0


def _log_model_dir(settings: Settings) -> None:
    # Model-path mistakes are the usual cause of a failing init(); show what is really there.
    if settings.model_dir is None or not Path(settings.model_dir).is_dir():
        return
    logger.info("Model Directory Contents:")
    for count, (root, _dirs, files) in enumerate(os.walk(settings.model_dir)):
        if count >= 200:
            logger.info("Output Truncated. First 200 folders shown.")
            break
        for name in sorted(files):
            logger.info(str(Path(root) / name))
    sys.stdout.flush()
