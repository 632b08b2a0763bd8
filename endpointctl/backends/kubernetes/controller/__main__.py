"""`python -m endpointctl.backends.kubernetes.controller --endpoint NAME`: the rollout controller's process.

In its pod it talks to the API server with its ServiceAccount (in-cluster configuration, its own namespace);
elsewhere with the kubeconfig (`--namespace` then names the endpoint's namespace). It ticks until SIGTERM and
touches `--heartbeat-file` after every tick that reached the API server; its liveness probe
(`--check-heartbeat FILE`) fails when the last such tick is older than `HEARTBEAT_MAX_AGE_S`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from pathlib import Path

from endpointctl.backends.kubernetes.client import KubeClient
from endpointctl.backends.kubernetes.controller.driver import TICK_S, RolloutController
from endpointctl.backends.kubernetes.controller.gateways import Gateways
from endpointctl.backends.kubernetes.kubeconfig import in_cluster_namespace
from endpointctl.backends.kubernetes.settings import Target
from endpointctl.core.errors import EndpointctlError

log = logging.getLogger("endpointctl.controller")
HEARTBEAT_MAX_AGE_S = 60.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="endpointctl-rollout-controller", description=__doc__)
    parser.add_argument("--endpoint", help="the endpoint whose progressive rollouts this controller drives")
    parser.add_argument("--namespace", help="default: the pod's own namespace")
    parser.add_argument("--admin-token-file", type=Path, help="the gateway's admin token (a mounted Secret)")
    parser.add_argument("--tick-seconds", type=float, default=TICK_S)
    parser.add_argument("--heartbeat-file", type=Path)
    parser.add_argument(
        "--check-heartbeat", type=Path, metavar="FILE", help="exit 0 if FILE is fresh, else 1"
    )
    args = parser.parse_args(argv)
    if args.check_heartbeat is not None:
        return _check(args.check_heartbeat)
    if not args.endpoint or args.admin_token_file is None:
        parser.error("--endpoint and --admin-token-file are required")
    namespace = args.namespace or in_cluster_namespace()
    if not namespace:
        parser.error("--namespace: not running in a pod, so name the endpoint's namespace")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token: str = args.admin_token_file.read_text(encoding="utf-8").strip()
    return asyncio.run(_run(args.endpoint, namespace, token, args.tick_seconds, args.heartbeat_file))


async def _run(endpoint: str, namespace: str, token: str, tick_s: float, heartbeat: Path | None) -> int:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    client = KubeClient(Target(None, namespace))
    gateways = Gateways(client, endpoint, token)
    controller = RolloutController(client, endpoint, gateways)
    log.info("driving progressive rollouts of %s in %s, one tick every %g s", endpoint, namespace, tick_s)
    try:
        while not stopping.is_set():
            try:
                await controller.tick()
                if heartbeat is not None:
                    await asyncio.to_thread(heartbeat.touch)
            except EndpointctlError as exc:
                log.warning("tick failed: %s", exc)
            except Exception:  # one bad tick must not end the rollout; the next one starts from the cluster
                log.exception("tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=tick_s)
    finally:
        await gateways.aclose()
        await client.aclose()
    log.info("stopped")
    return 0


def _check(heartbeat: Path) -> int:
    try:
        age = time.time() - heartbeat.stat().st_mtime
    except OSError:
        return 1
    return 0 if age <= HEARTBEAT_MAX_AGE_S else 1


if __name__ == "__main__":
    sys.exit(main())
