"""What the façade returns: read-only views of endpoints, deployments, instances, logs and events.

Backends build these; the CLI renders them (`show -o json|yaml|table|tsv`) and the TUI draws them.
`to_show()` gives the az-ml-shaped dictionary that `show` prints, so `--query` works as written in the docs.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from endpointctl.core.capabilities import Capabilities
from endpointctl.core.spec import DeploymentSpec, EndpointSpec, spec_to_dict


class ProvisioningState(enum.StrEnum):
    CREATING = "Creating"
    UPDATING = "Updating"
    SCALING = "Scaling"
    DELETING = "Deleting"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELED = "Canceled"

    @property
    def terminal(self) -> bool:
        return self in (ProvisioningState.SUCCEEDED, ProvisioningState.FAILED, ProvisioningState.CANCELED)


class InstanceState(enum.StrEnum):
    PENDING = "Pending"
    STARTING = "Starting"
    READY = "Ready"
    UNHEALTHY = "Unhealthy"
    RESTARTING = "Restarting"
    TERMINATING = "Terminating"
    FAILED = "Failed"


class Container(enum.StrEnum):
    INFERENCE_SERVER = "inference-server"
    STORAGE_INITIALIZER = "storage-initializer"


@dataclass(frozen=True)
class BackendStatus:
    name: str
    available: bool
    capabilities: Capabilities
    context: str = ""
    reason: str = ""


@dataclass(frozen=True)
class InstanceView:
    id: str
    state: InstanceState
    revision: int
    restarts: int = 0
    started_at: float | None = None
    address: str | None = None
    reason: str = ""


PREPARING = "preparing"


@dataclass(frozen=True)
class RolloutView:
    """Progress of a rolling update: batch n of m, how many instances already run the new revision."""

    revision: int
    batch: int
    batches: int
    updated: int
    desired: int
    phase: str
    message: str = ""

    @property
    def preparing(self) -> bool:
        """Before the first batch: the environment is being built and model and code staged (`message` says
        what is happening); `batch` and `batches` are 0 until the plan starts."""
        return self.phase == PREPARING


@dataclass(frozen=True)
class EndpointView:
    backend: str
    spec: EndpointSpec
    provisioning_state: ProvisioningState
    scoring_uri: str | None = None
    openapi_uri: str | None = None
    location: str = "local"
    context: str = ""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def traffic(self) -> Mapping[str, int]:
        """The split the endpoint serves, every deployment named (0 for those without traffic)."""
        return self.spec.traffic

    @property
    def mirror_traffic(self) -> Mapping[str, int]:
        return self.spec.mirror_traffic

    def to_show(self) -> dict[str, Any]:
        out = spec_to_dict(self.spec)
        out.pop("$schema", None)
        out.update(
            {
                "traffic": dict(self.traffic),
                "mirror_traffic": dict(self.mirror_traffic),
                "provisioning_state": str(self.provisioning_state),
                "scoring_uri": self.scoring_uri,
                "openapi_uri": self.openapi_uri,
                "location": self.location,
                "kind": self.spec.kind.capitalize(),
                "backend": self.backend,
            }
        )
        return out


@dataclass(frozen=True)
class DeploymentView:
    backend: str
    spec: DeploymentSpec
    provisioning_state: ProvisioningState
    revision: int = 1
    instances: tuple[InstanceView, ...] = ()
    rollout: RolloutView | None = None
    reason: str = ""
    # What serves while `spec`/`revision` (the last applied) rolls out or after it failed; None when the backend
    # does not tell them apart (then the applied spec is what serves).
    serving_revision: int | None = None
    serving_spec: DeploymentSpec | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def endpoint_name(self) -> str:
        return self.spec.endpoint_name

    @property
    def serves_another_revision(self) -> bool:
        """A rollout failed (or runs) and an older revision keeps serving."""
        return self.serving_revision is not None and self.serving_revision != self.revision

    @property
    def ready_instances(self) -> int:
        return sum(1 for i in self.instances if i.state is InstanceState.READY)

    def to_show(self) -> dict[str, Any]:
        out = spec_to_dict(self.spec)
        out.pop("$schema", None)
        out["provisioning_state"] = str(self.provisioning_state)
        out["backend"] = self.backend
        if self.reason:
            out["reason"] = self.reason
        if self.serves_another_revision:
            out["serving_revision"] = self.serving_revision
        return out


@dataclass(frozen=True)
class Credentials:
    """Key mode: primary/secondary keys. aml_token mode: a signed token and its expiry."""

    auth_mode: str
    primary_key: str | None = None
    secondary_key: str | None = None
    access_token: str | None = None
    expiry_time_utc: int | None = None
    refresh_after_time_utc: int | None = None

    def bearer(self) -> str:
        value = self.primary_key if self.auth_mode == "key" else self.access_token
        if not value:
            raise ValueError("no credential available")
        return value

    def to_show(self) -> dict[str, Any]:
        if self.auth_mode == "key":
            return {"primaryKey": self.primary_key, "secondaryKey": self.secondary_key}
        return {
            "accessToken": self.access_token,
            "tokenType": "Bearer",
            "expiryTimeUtc": self.expiry_time_utc,
            "refreshAfterTimeUtc": self.refresh_after_time_utc,
        }

    def __repr__(self) -> str:
        return f"Credentials(auth_mode={self.auth_mode!r}, <redacted>)"


@dataclass(frozen=True)
class InvokeResult:
    status: int
    headers: Mapping[str, str]
    body: bytes
    latency_ms: float
    deployment: str | None


@dataclass(frozen=True)
class LogLine:
    text: str
    instance: str = ""
    container: Container = Container.INFERENCE_SERVER
    ts: float | None = None


@dataclass(frozen=True)
class EventView:
    """Something that happened to an endpoint or one of its deployments.

    `data` carries what a client may act on without parsing `message`; for rollouts, the keys in `ROLLOUT_DATA`:
    `revision` (the revision rolling out), `batch` and `batches` (on a batch that became ready), `log_tail` (on a
    failure: the instance's last log lines).
    """

    id: int
    ts: float
    kind: str
    message: str
    deployment: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


ROLLOUT_DATA = ("revision", "batch", "batches", "log_tail")


@dataclass(frozen=True)
class DryRunPlan:
    """What a create/update would send, computed without contacting anything (Capability.DRY_RUN).

    Kubernetes: the manifests (`-o yaml` prints them as a multi-document stream for `kubectl apply -f -`).
    Azure: the ARM requests as `{method, url, body}`. `output` is the format the CLI prints by default.
    """

    backend: str
    documents: tuple[Mapping[str, Any], ...]
    output: str = "yaml"
    # What the reader must know about the plan that the documents do not say (printed on stderr).
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class DiskItem:
    """One thing on disk a cleanup removed (or, in a dry run, would remove), or kept and why."""

    kind: str  # "environment", "image", "log"
    name: str
    size_bytes: int
    why: str  # "no deployment uses it", "used by my-endpoint/blue"


@dataclass(frozen=True)
class CleanupReport:
    """`endpointctl gc`: what was freed, what was kept, and the space the kept items still take."""

    backend: str
    freed: tuple[DiskItem, ...]
    kept: tuple[DiskItem, ...]
    dry_run: bool = False

    @property
    def freed_bytes(self) -> int:
        return sum(item.size_bytes for item in self.freed)

    @property
    def kept_bytes(self) -> int:
        return sum(item.size_bytes for item in self.kept)

    def summary(self) -> str:
        """ "process: freed 481.2 MB (2 environment(s), 14 log(s)); kept 1 in use (240.0 MB)"."""
        verb = "would free" if self.dry_run else "freed"
        counts: dict[str, int] = {}
        for item in self.freed:
            counts[item.kind] = counts.get(item.kind, 0) + 1
        what = ", ".join(f"{n} {kind}(s)" for kind, n in sorted(counts.items())) or "nothing"
        return (
            f"{self.backend}: {verb} {human_bytes(self.freed_bytes)} ({what}); "
            f"kept {len(self.kept)} in use ({human_bytes(self.kept_bytes)})"
        )


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


@dataclass(frozen=True)
class ShadowExample:
    """A mirrored request whose answer differed from the live one (bodies cut to 1 KiB; in memory only)."""

    request_id: str
    at: float
    live_status: int
    mirror_status: int
    live_body: str
    mirror_body: str


@dataclass(frozen=True)
class DeploymentMetrics:
    """Cumulative counters of one deployment at one moment, as the endpoint's router saw them.

    Rates come from the difference of two snapshots (the TUI polls); cumulative values survive a dropped poll.
    """

    deployment: str
    requests: int
    by_status: Mapping[str, int]  # "2xx", "4xx", "5xx" → count
    in_flight: int
    p50_ms: float | None
    p99_ms: float | None
    mirrored: int = 0
    mirror_failures: int = 0
    # For windows between two snapshots (rollout gates): exact statuses, the latency histogram (upper bounds in
    # seconds, one count per bound plus +Inf) and when the counters started (a restart resets them).
    statuses: Mapping[int, int] = field(default_factory=dict)
    latency_bounds_s: tuple[float, ...] = ()
    latency_counts: tuple[int, ...] = ()
    since: float = 0.0
    # As a mirror target: its answers compared with the live ones ("equal", "differs", "failed").
    shadow: Mapping[str, int] = field(default_factory=dict)
    shadow_examples: tuple[ShadowExample, ...] = ()

    @property
    def errors(self) -> int:
        return int(self.by_status.get("5xx", 0)) + int(self.by_status.get("4xx", 0))


@dataclass(frozen=True)
class MetricsSnapshot:
    endpoint: str
    ts: float
    deployments: Mapping[str, DeploymentMetrics]
