"""One backend stood up for the conformance suite, behind the service façade, with what only its test needs.

Each harness reuses its backend's own test doubles and helpers (tests/backends/…): the process and Docker
backends run for real in a fresh data directory, Kubernetes runs against the API double with its gateway and
scoring hosts run locally (kubelet.py), Azure runs against the ARM double. The scenarios never look inside a
backend; a harness only does what the world outside the backend would (a kubelet refreshing a mounted Secret,
ARM failing an operation) and says what each backend's data plane can show.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from endpointctl.backends.kubernetes import naming
from endpointctl.core.context import BackendContext
from endpointctl.core.errors import NotFound
from endpointctl.core.home import HOME_ENV, Home
from endpointctl.core.service import EndpointService, discover_factories
from endpointctl.core.spec import DeploymentSpec, EndpointSpec, load_deployment, load_endpoint
from tests.conftest import SAMPLES

if TYPE_CHECKING:  # each backend's test helpers are imported when that backend is stood up
    from tests.backends.azure.double import ArmDouble
    from tests.backends.kubernetes.apiserver import ApiServer
    from tests.backends.scenarios.conftest import LocalTarget
    from tests.conformance.kubelet import ClusterGateway, Kubelet

BACKENDS = ("process", "docker", "kubernetes", "azure")
ENDPOINT = "my-endpoint"  # the samples' name, which the local backends' leftover checks look for
NAMESPACE = "team-a"  # where tests/backends/kubernetes/conftest.py's kubeconfig points
BROKEN_SCORE_PY = """
def init():
    raise RuntimeError("the model file is corrupt")


def run(raw_data):
    return raw_data
"""
BROKEN_MESSAGE = "RuntimeError: the model file is corrupt"


@dataclass(frozen=True)
class Samples:
    endpoint: Path
    blue: Path
    green: Path
    request: Path


MANAGED_DIR = SAMPLES / "managed" / "sample"
MANAGED = Samples(
    MANAGED_DIR / "endpoint.yml",
    MANAGED_DIR / "blue-deployment.yml",
    MANAGED_DIR / "green-deployment.yml",
    MANAGED_DIR / "sample-request.json",
)
KUBE_DIR = SAMPLES / "kubernetes"
KUBERNETES = Samples(
    KUBE_DIR / "kubernetes-endpoint.yml",
    KUBE_DIR / "kubernetes-blue-deployment.yml",
    KUBE_DIR / "kubernetes-green-deployment.yml",
    MANAGED_DIR / "sample-request.json",
)


@dataclass
class Harness:
    """A backend under test. Subclasses override the hooks where the world around a backend differs."""

    name: str
    service: EndpointService
    samples: Samples
    folder: Path
    # True when what answers /score runs the sample's score.py (a real prediction comes back); the ARM
    # double's scoring router only echoes the request and names the deployment it chose.
    runs_the_model: bool = True
    # True when deployment views list instances and revisions: the local backends run them and Kubernetes
    # watches its pods; ARM's deployment resource has neither (Azure shows revision 1 and no instances).
    shows_instances: bool = True
    # True when a failed rollout's broken score.py really runs, so its exception can be named: the local
    # backends run it; the Kubernetes double crash-loops the pod by image, and ARM reports its own error.
    runs_the_failure: bool = True
    # Scenario results later scenarios build on (the suite shares one endpoint per backend, in order).
    memo: dict[str, Any] = field(default_factory=dict)

    # --- specs --------------------------------------------------------------------------------------
    def endpoint_spec(self) -> EndpointSpec:
        return load_endpoint(self.samples.endpoint)

    def deployment_spec(self, colour: str, *sets: str) -> DeploymentSpec:
        path = {"blue": self.samples.blue, "green": self.samples.green}[colour]
        return load_deployment(path, list(sets))

    @property
    def request(self) -> bytes:
        return self.samples.request.read_bytes()

    def broken_code(self) -> Path:
        """A code folder whose score.py raises in init(), as a corrupt model would make it."""
        folder = self.folder / "broken-code"
        folder.mkdir(exist_ok=True)
        (folder / "score.py").write_text(BROKEN_SCORE_PY)
        return folder

    def failing_update(self) -> DeploymentSpec:
        return self.deployment_spec("blue", f"code_configuration.code={self.broken_code()}")

    # --- what the world around the backend does -----------------------------------------------------
    async def settle(self) -> None:
        """After a change through the façade: what a cluster's kubelet would do by itself. No-op locally."""

    @contextlib.contextmanager
    def failing(self) -> Iterator[None]:
        """Around the failing update: what makes the backend's service fail it (nothing where the broken
        score.py itself fails)."""
        yield

    async def write_log_line(self, deployment: str) -> Callable[[str], bool]:
        """Make `deployment`'s inference server write a line; returns a test that recognises it."""
        result = await self.service.invoke(ENDPOINT, self.request, deployment=deployment, backend=self.name)
        assert result.status == 200, result.body
        return lambda text: "POST /score 200" in text

    def leftovers(self) -> list[str]:
        """Anything of the endpoint's still there after it was deleted (processes, containers, objects)."""
        raise NotImplementedError

    async def close(self) -> None:
        await self.service.close()


# --- process and docker --------------------------------------------------------------------------------


@dataclass(kw_only=True)
class LocalHarness(Harness):
    target: LocalTarget

    def leftovers(self) -> list[str]:
        return self.target.leftovers()

    async def close(self) -> None:
        from endpointctl.backends.local.launcher import stop_agent

        await self.service.close()
        await stop_agent(self.target.layout)
        assert self.target.running() == set(), f"the {self.name} agent left scoring hosts behind"


@contextlib.asynccontextmanager
async def local_harness(name: str, folder: Path) -> AsyncIterator[Harness]:
    from endpointctl.backends.docker.cleanup import purge
    from endpointctl.backends.docker.layout import Layout as DockerLayout
    from endpointctl.backends.local.layout import ENV_CACHE_VARIABLE
    from endpointctl.backends.process.layout import Layout as ProcessLayout
    from tests.backends.engine import require_engine
    from tests.backends.process.conftest import ENV_CACHE
    from tests.backends.scenarios.conftest import LocalTarget

    home = Home(folder / "home").ensure()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(HOME_ENV, str(home.root))
        patch.setenv(ENV_CACHE_VARIABLE, str(ENV_CACHE))
        if name == "process":
            target = LocalTarget("process", home, ProcessLayout(home))
        else:
            engine = require_engine()  # skipped without an engine, failed in CI
            # Another run's (or a killed run's) objects for the sample endpoint would be mistaken for ours.
            purge(engine, endpoint=ENDPOINT)
            target = LocalTarget("docker", home, DockerLayout(home), engine)
        service = EndpointService(BackendContext.open(home), {name: discover_factories()[name]})
        harness = LocalHarness(name, service, MANAGED, folder, target=target)
        try:
            yield harness
        finally:
            try:
                await harness.close()
            finally:
                if target.engine is not None:
                    purge(target.engine, endpoint=ENDPOINT)
                    target.engine.close()


# --- kubernetes ----------------------------------------------------------------------------------------

CRASH_MARKER = "conformance-broken"


@dataclass(kw_only=True)
class KubernetesHarness(Harness):
    runs_the_failure: bool = False

    apiserver: ApiServer
    kubelet: Kubelet
    node_port: int
    gateway: ClusterGateway | None = None  # once the endpoint exists

    def failing_update(self) -> DeploymentSpec:
        # The double runs no container: a pod crash-loops when its variables carry a marker in `crash_markers`.
        # The broken score.py goes with it, so what the kubelet here would run for that template cannot serve.
        return self.deployment_spec(
            "blue",
            f"code_configuration.code={self.broken_code()}",
            f"environment_variables.ENDPOINTCTL_TEST_CRASH={CRASH_MARKER}",
        )

    @contextlib.contextmanager
    def failing(self) -> Iterator[None]:
        self.apiserver.cluster.crash_markers.add(CRASH_MARKER)
        try:
            yield
        finally:
            self.apiserver.cluster.crash_markers.discard(CRASH_MARKER)

    async def settle(self) -> None:
        await asyncio.to_thread(self._settle)

    def _settle(self) -> None:
        from tests.conformance.kubelet import ClusterGateway

        cluster = self.apiserver.cluster
        exists = bool(cluster.select("ConfigMap", NAMESPACE, naming.selector({naming.ENDPOINT: ENDPOINT})))
        if not exists:
            # The endpoint's Deployments were deleted, so were their pods: nothing serves any more.
            self.kubelet.stop()
            if self.gateway is not None:
                self.gateway.stop()
                self.gateway = None
            return
        instances = self.kubelet.sync(ENDPOINT)
        if self.gateway is None:
            folder = self.folder / "gateway"
            folder.mkdir(exist_ok=True)
            self.gateway = ClusterGateway(
                self.apiserver, folder, ENDPOINT, NAMESPACE, scoring_port=self.node_port, instances=instances
            )
            admin = naming.gateway_admin_name(ENDPOINT)
            cluster.proxies[(NAMESPACE, admin, "admin")] = f"http://127.0.0.1:{self.gateway.admin_port}"
        else:
            self.gateway.route(instances)
        self.gateway.wait_reloaded(ENDPOINT, self.gateway.key)

    async def write_log_line(self, deployment: str) -> Callable[[str], bool]:
        # The double's pods write no logs of their own: append one, as the container would write it.
        cluster = self.apiserver.cluster
        marker = f"POST /score 200 0.8ms conformance-{time.monotonic_ns()}"
        selector = naming.selector({naming.ENDPOINT: ENDPOINT, naming.DEPLOYMENT: deployment})
        with cluster.lock:
            for pod in cluster.select("Pod", NAMESPACE, selector):
                cluster.logs.setdefault((pod["metadata"]["name"], "inference-server"), []).append(marker)
            cluster.changed.notify_all()
        return lambda text: text == marker

    def leftovers(self) -> list[str]:
        return [
            "/".join(key)
            for key, obj in self.apiserver.cluster.objects.items()
            if (obj["metadata"].get("labels") or {}).get(naming.MANAGED_BY) == naming.MANAGER
        ]

    async def close(self) -> None:
        await self.service.close()
        self.kubelet.stop()
        if self.gateway is not None:
            self.gateway.stop()


@contextlib.asynccontextmanager
async def kubernetes_harness(folder: Path) -> AsyncIterator[Harness]:
    from tests.backends.azure.conftest import configure
    from tests.backends.engine import BASE_IMAGE, require_engine
    from tests.backends.kubernetes.apiserver import ApiServer
    from tests.backends.kubernetes.conftest import write_kubeconfig
    from tests.backends.kubernetes.test_invoke import _free_node_port
    from tests.conformance.kubelet import Kubelet

    apiserver = ApiServer().start()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("KUBECONFIG", str(write_kubeconfig(folder / "kubeconfig", apiserver.url, NAMESPACE)))
            # A client reaches a NodePort endpoint at a node's address: the gateway runs here, on that port.
            node_port = _free_node_port()
            apiserver.cluster.node_address = "127.0.0.1"
            apiserver.cluster.node_ports = iter([node_port])
            # The sample endpoint says `compute: azureml:inferencecompute`; map it as `configure` would. The
            # backend builds its images with the Docker engine: the gateway's FROM the machine's offline base.
            engine = require_engine()  # skipped without an engine, failed in CI
            engine.close()
            context = configure(
                Home(folder / "home").ensure(),
                kube_computes=f"inferencecompute=double/{NAMESPACE}",
                kube_service_type="NodePort",
                kube_gateway_image=BASE_IMAGE,
            )
            service = EndpointService(context, {"kubernetes": discover_factories()["kubernetes"]})
            harness = KubernetesHarness(
                "kubernetes",
                service,
                KUBERNETES,
                folder,
                apiserver=apiserver,
                kubelet=Kubelet(apiserver, NAMESPACE, folder / "pods"),
                node_port=node_port,
            )
            try:
                yield harness
            finally:
                await harness.close()
    finally:
        apiserver.stop()


# --- azure -----------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class AzureHarness(Harness):
    double: ArmDouble

    @contextlib.contextmanager
    def failing(self) -> Iterator[None]:
        # The double runs no container either: ARM fails the deployment's operation as Azure ML reports a
        # scoring container whose init() raised.
        self.double.failing["blue"] = (
            "Failed",
            "ResourceOperationFailure",
            f"init() raised {BROKEN_MESSAGE}",
        )
        try:
            yield
        finally:
            self.double.failing.pop("blue", None)

    async def write_log_line(self, deployment: str) -> Callable[[str], bool]:
        # getLogs returns a snapshot (20 lines, and `log_growth` more on each later read); from now on the
        # server writes a line between two reads, numbered after what the log had so far.
        double = self.double
        length = 20 + double.log_growth * max(double.log_reads - 1, 0)
        double.log_growth = 1
        prefix = f"inference-server {ENDPOINT}/{deployment} line "
        return lambda text: text.startswith(prefix) and int(text.removeprefix(prefix)) > length

    def leftovers(self) -> list[str]:
        left = [f"endpoint {name}" for name in self.double.endpoints if name == ENDPOINT]
        return left + [f"deployment {e}/{d}" for e, d in self.double.deployments if e == ENDPOINT]


@contextlib.asynccontextmanager
async def azure_harness(folder: Path) -> AsyncIterator[Harness]:
    from endpointctl.backends.azure.arm import Tuning
    from endpointctl.backends.azure.backend import AzureBackend
    from tests.backends.azure.conftest import OID, UPN, FakeCredential, Sleeps, configure
    from tests.backends.azure.double import RG, SUB, WS, ArmDouble, make_token

    double = ArmDouble(authorized_oids={OID}, retry_after="1").start()
    try:
        context = configure(
            Home(folder / "home").ensure(), subscription=SUB, group=RG, workspace=WS, arm_endpoint=double.url
        )
        credential = FakeCredential(make_token(OID, upn=UPN))
        tuning = Tuning(attempts=4, backoff_s=0.5, max_sleep_s=30, lro_interval_s=2, sleep=Sleeps())
        factory = partial(AzureBackend, credential_factory=lambda: credential, tuning=tuning)
        service = EndpointService(context, {"azure": factory})
        harness = AzureHarness(
            "azure",
            service,
            MANAGED,
            folder,
            runs_the_model=False,
            shows_instances=False,
            runs_the_failure=False,
            double=double,
        )
        try:
            yield harness
        finally:
            await harness.close()
    finally:
        double.stop()


@contextlib.asynccontextmanager
async def open_harness(name: str, folder: Path) -> AsyncIterator[Harness]:
    opener: dict[str, Callable[[Path], contextlib.AbstractAsyncContextManager[Harness]]] = {
        "process": partial(local_harness, "process"),
        "docker": partial(local_harness, "docker"),
        "kubernetes": kubernetes_harness,
        "azure": azure_harness,
    }
    async with opener[name](folder) as harness:
        yield harness


async def endpoint_exists(harness: Harness) -> bool:
    try:
        await harness.service.get_endpoint(ENDPOINT, backend=harness.name)
    except NotFound:
        return False
    return True
