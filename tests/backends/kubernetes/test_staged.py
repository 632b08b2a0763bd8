"""An apply's image build is the first stage of its Operation: followed with progress, awaited by --no-wait."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from endpointctl.backends.kubernetes import naming
from endpointctl.backends.kubernetes.backend import KubernetesBackend
from endpointctl.backends.kubernetes.staged import BuildThenRollout, Progress
from endpointctl.core.errors import OperationFailed
from endpointctl.core.operations import Done, OperationState
from endpointctl.core.spec import load_deployment
from tests.backends.kubernetes.apiserver import ApiServer
from tests.backends.kubernetes.test_scenarios import K8S, NS, _create

SPEC = load_deployment(K8S / "kubernetes-blue-deployment.yml")


async def test_the_build_reports_its_lines_as_a_preparing_deployment_then_the_rollout_follows() -> None:
    release = threading.Event()

    async def prepare(progress: Progress) -> None:
        def build() -> None:  # as the engine's builder does: lines from a worker thread
            progress("building environment image endpointctl/env:0123 FROM base")
            release.wait(10)

        await asyncio.to_thread(build)

    operation = BuildThenRollout(
        "deployment my-endpoint/blue",
        SPEC,
        backend="kubernetes",
        creating=True,
        prepare=prepare,
        rollout=lambda: _done(),
    )
    for _ in range(200):
        status = await operation.poll()
        if "FROM base" in status.message:
            break
        await asyncio.sleep(0.01)
    assert status.state is OperationState.RUNNING
    assert status.deployment is not None and status.deployment.rollout is not None
    assert status.deployment.rollout.preparing
    assert status.deployment.rollout.message == "building environment image endpointctl/env:0123 FROM base"
    release.set()
    await operation.recorded()
    assert (await operation.poll()).state is OperationState.SUCCEEDED


async def _done() -> Done:
    return Done("rolled out")


async def test_a_failed_build_raises_as_itself() -> None:
    class BuildFailed(OperationFailed):
        pass

    async def prepare(progress: Progress) -> None:
        raise BuildFailed("building the environment image failed; see build.log")

    operation = BuildThenRollout(
        "d", SPEC, backend="kubernetes", creating=False, prepare=prepare, rollout=lambda: _done()
    )
    with pytest.raises(BuildFailed, match=r"see build\.log"):
        await operation.recorded()
    with pytest.raises(BuildFailed):
        await operation.poll()


async def test_no_wait_returns_once_the_objects_are_written(
    backend: KubernetesBackend, apiserver: ApiServer, tmp_path: Path
) -> None:
    svc = await _create(backend)
    green = load_deployment(K8S / "kubernetes-green-deployment.yml")
    view = await svc.apply_deployment(green, backend="kubernetes", wait=False)
    assert view.name == "green"
    assert apiserver.cluster.get("Deployment", NS, naming.deployment_name("my-endpoint", "green"))
