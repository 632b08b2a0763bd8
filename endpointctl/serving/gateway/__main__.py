"""``python -m endpointctl.serving.gateway --admin-host 127.0.0.1 --admin-port N [--config FILE]``.

Or, driven by mounted files (Kubernetes: a ConfigMap and a Secret)::

    python -m endpointctl.serving.gateway --admin-host 0.0.0.0 --admin-port 9090 \
        --config-file /etc/endpointctl/routing/routing.json --keys-file /etc/endpointctl/keys/keys.json

The files are re-read every ``--reload-interval`` seconds and applied when they change (see :mod:`.files`);
the admin API then refuses ``PUT /v1/config``, since the files are the desired state. It takes ``PUT
/v1/routing`` instead: a newer routing document pushed ahead of the kubelet's slow volume sync (see :mod:`.admin`).

The wire limits (header and keep-alive timeouts, the connection cap) come from the environment, as for the
scoring host: ENDPOINTCTL_HEADER_TIMEOUT_S, ENDPOINTCTL_KEEP_ALIVE_TIMEOUT_S, ENDPOINTCTL_MAX_CONNECTIONS
(see :mod:`endpointctl.serving.limits`); a bad value stops the gateway with exit status 2.

Prints one JSON line to stdout once the admin API and the initial configuration are up
(``{"admin_port": N, "endpoints": {name: port}}``), so a caller that asked for port 0 learns the real one.
Stops on SIGTERM or SIGINT, draining in-flight requests first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path

from endpointctl.serving import limits
from endpointctl.serving.gateway.admin import AdminApi
from endpointctl.serving.gateway.config import ConfigError, GatewayConfig
from endpointctl.serving.gateway.files import DEFAULT_RELOAD_INTERVAL_S, FileSource, FileWatcher
from endpointctl.serving.gateway.gateway import Gateway
from endpointctl.serving.gateway.revive import AgentCommand, AgentReviver, ReviveConfigError


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m endpointctl.serving.gateway", description=__doc__)
    parser.add_argument("--admin-host", default="127.0.0.1")
    parser.add_argument("--admin-port", type=int, required=True, help="0 picks a free port")
    parser.add_argument("--config", type=Path, help="JSON gateway config applied at start")
    parser.add_argument("--config-file", type=Path, help="JSON gateway config, re-read when it changes")
    parser.add_argument("--keys-file", type=Path, help="JSON keys merged into --config-file, re-read too")
    parser.add_argument(
        "--reload-interval",
        type=float,
        default=DEFAULT_RELOAD_INTERVAL_S,
        help="seconds between checks of --config-file/--keys-file",
    )
    parser.add_argument(
        "--drain-timeout", type=float, default=30.0, help="seconds in-flight requests get on stop"
    )
    parser.add_argument(
        "--admin-token-file", type=Path, help="admin routes (but /healthz) need this file's token as a bearer"
    )
    parser.add_argument(
        "--revive-agent",
        type=Path,
        help="JSON file naming the agent's command, lock and stop marker: start the agent again when it dies "
        "without being stopped (see endpointctl.serving.gateway.revive)",
    )
    args = parser.parse_args(argv)
    if args.config_file is not None and args.config is not None:
        parser.error("--config and --config-file exclude each other")
    if args.keys_file is not None and args.config_file is None:
        parser.error("--keys-file needs --config-file")
    return args


async def _run(args: argparse.Namespace) -> int:
    try:
        wire = limits.from_env(os.environ)
    except limits.LimitsError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    gateway = Gateway(drain_timeout_s=args.drain_timeout, limits=wire)
    await gateway.start()
    if args.config is not None:
        try:
            await gateway.apply(GatewayConfig.from_json(args.config.read_bytes()))
        except (OSError, ConfigError) as exc:  # GatewayBindError is an OSError
            print(f"gateway: cannot apply {args.config}: {exc}", file=sys.stderr)
            return 2
    watcher: FileWatcher | None = None
    if args.config_file is not None:
        watcher = FileWatcher(
            gateway, FileSource(args.config_file, args.keys_file), interval_s=args.reload_interval
        )
        try:
            await watcher.apply_initial()
        except (OSError, ConfigError) as exc:
            print(f"gateway: cannot apply {args.config_file}: {exc}", file=sys.stderr)
            await gateway.stop()
            return 2
    read_only = None if watcher is None else f"the configuration is read from {args.config_file}"
    token = None
    if args.admin_token_file is not None:
        try:
            token = args.admin_token_file.read_text().strip()
        except OSError as exc:
            print(f"gateway: cannot read {args.admin_token_file}: {exc}", file=sys.stderr)
            await gateway.stop()
            return 2
    reviver = None
    if args.revive_agent is not None:
        try:
            reviver = AgentReviver(AgentCommand.load(args.revive_agent))
        except ReviveConfigError as exc:
            print(f"gateway: {exc}", file=sys.stderr)
            await gateway.stop()
            return 2
    admin = AdminApi(gateway, read_only=read_only, watcher=watcher, token=token or None)
    try:
        admin_port = await admin.start(args.admin_host, args.admin_port)
    except OSError as exc:
        print(f"gateway: cannot listen on {args.admin_host}:{args.admin_port}: {exc}", file=sys.stderr)
        await gateway.stop()
        return 2
    print(json.dumps({"admin_port": admin_port, "endpoints": gateway.ports()}), flush=True)

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):  # Windows has no add_signal_handler
            loop.add_signal_handler(sig, stopping.set)
    tasks = [asyncio.create_task(watcher.run(stopping))] if watcher is not None else []
    if reviver is not None:
        tasks.append(asyncio.create_task(reviver.run(stopping)))
    await stopping.wait()
    for task in tasks:
        await task
    await admin.close()
    await gateway.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = _parse_args(argv)
    try:
        import uvloop  # optional speed-up: the gateway works without it
    except ImportError:
        return asyncio.run(_run(args))
    result: int = uvloop.run(_run(args))
    return result


if __name__ == "__main__":
    sys.exit(main())
