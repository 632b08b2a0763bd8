"""``python -m endpointctl.serving.scoring``: azmlinfsrv's command line, served by uvicorn."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from endpointctl.serving import limits
from endpointctl.serving.scoring import config, logs
from endpointctl.serving.scoring.supervisor import bind, bind_unix, supervise
from endpointctl.serving.scoring.worker import serve

logger = logging.getLogger("azmlinfsrv")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = config.load(argv, os.environ)
        limits.from_env(os.environ)
    except (config.ConfigError, limits.LimitsError) as ex:
        print(f"error: {ex}", file=sys.stderr)
        return 2
    logs.setup(settings.log_level)
    logger.info(
        f"Scoring host (azmlinfsrv-compatible) entry_script={settings.entry_script} "
        f"model_dir={settings.model_dir} workers={settings.worker_count} listen={settings.listen_address}"
    )
    try:
        if settings.uds:
            sock = bind_unix(settings.uds, settings.uds_owner)
        else:
            sock = bind(settings.host, settings.port)
    except OSError as ex:
        logger.error(f"Cannot listen on {settings.listen_address}: {ex}")
        return 1
    logger.info(f"Listening on http://{settings.listen_address}")
    if settings.worker_count == 1:
        return serve(settings, sock)
    return supervise(settings, sock)


if __name__ == "__main__":
    sys.exit(main())
