"""One deployment's controller: creates, rolls out, scales, rolls back and removes its instances.

Desired state is the deployment row (spec + revision); what serves is `live_revision`/`live_spec`. A rollout
replaces at most 20% of the instances per batch: start a batch of the new revision, wait until it is
ready, route to it, take the same number of old instances out of rotation, let them finish in-flight
requests, stop them. Any failure stops the rollout, brings the old revision back to full strength and
removes the new instances, so callers never see an error from the update itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from endpointctl.backends.common.diagnosis import failure_cause
from endpointctl.backends.local.disk import prune_retired_logs
from endpointctl.backends.local.instance import Instance
from endpointctl.backends.local.layout import Layout
from endpointctl.backends.local.records import InstanceRecord
from endpointctl.backends.local.runtime import Prepared, Runtime
from endpointctl.backends.local.status import DeploymentStatus
from endpointctl.core.errors import EndpointctlError
from endpointctl.core.rollout import only_scale_changed, plan_rollout
from endpointctl.core.spec import DeploymentSpec
from endpointctl.core.store import DeploymentRecord, Store
from endpointctl.core.views import PREPARING, InstanceState, ProvisioningState, RolloutView

LOG_TAIL_LINES = 60  # enough for a chained traceback and the model listing the host prints after it


class Services(Protocol):
    """What a controller needs from the agent."""

    store: Store
    layout: Layout
    runtime: Runtime

    def changed(self) -> None: ...

    def wake(self) -> None: ...

    async def refresh_gateway(self) -> None: ...

    def event(
        self, endpoint: str, deployment: str, kind: str, message: str, data: dict[str, Any] | None = None
    ) -> None: ...


@dataclass
class RolloutFailed(Exception):
    reason: str
    detail: str = ""


class DeploymentController:
    def __init__(self, services: Services, endpoint: str, name: str) -> None:
        self.s = services
        self.endpoint = endpoint
        self.name = name
        self.instances: list[Instance] = []
        self.rollout: RolloutView | None = None
        self._task: asyncio.Task[None] | None = None
        self._prepared: dict[int, Prepared] = {}

    # --- what the agent sees -----------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    def routable(self) -> list[str]:
        return [i.address for i in self.instances if i.routable]

    def status(self) -> DeploymentStatus:
        return DeploymentStatus(tuple(i.view() for i in self.instances), self.rollout)

    def needed(self) -> dict[str, Mapping[str, Any]]:
        """What must stay on disk for this deployment: each instance's and each prepared revision's runtime data
        (a rollout in flight and the revision a rollback returns to are prepared)."""
        out: dict[str, Mapping[str, Any]] = {}
        for revision, prepared in self._prepared.items():
            out[f"{self.endpoint}/{self.name} rev {revision}"] = prepared.data
        for instance in self.instances:
            out[f"{self.endpoint}/{self.name} instance {instance.record.id}"] = instance.record.runtime
        return out

    def kick(self, record: DeploymentRecord) -> None:
        """Start converging towards `record` unless a step is already running (it re-kicks when done)."""
        if self.busy:
            return
        self._task = asyncio.create_task(
            self._converge_logged(record), name=f"deployment {self.endpoint}/{self.name}"
        )

    def adopt(self, instance: Instance) -> None:
        self.instances.append(instance)

    async def remove(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._retire(list(self.instances))
        await self.s.runtime.remove_deployment(self.endpoint, self.name)

    async def stop_instances(self) -> None:
        await self._retire(list(self.instances))

    async def shutdown(self) -> None:
        """The agent is stopping: leave instances running (they are adopted on the next start)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    # --- converging -------------------------------------------------------------------------------
    async def _converge_logged(self, record: DeploymentRecord) -> None:
        transition = record.revision != record.live_revision and record.provisioning_state != "Failed"
        try:
            await self._converge(record)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must fail the deployment visibly, never kill the agent
            self._set_state(ProvisioningState.FAILED, f"internal error: {type(exc).__name__}: {exc}")
            self.s.event(self.endpoint, self.name, "error", f"internal error: {type(exc).__name__}: {exc}")
        finally:
            if transition:
                self.s.wake()

    async def _converge(self, record: DeploymentRecord) -> None:
        spec = record.spec
        state = ProvisioningState(record.provisioning_state)
        if record.live_revision is None or record.live_spec is None:
            if state is ProvisioningState.FAILED:
                await self._retire([i for i in self.instances])
                return
            await self._create(record, spec)
            return
        live_spec = record.live_spec
        if record.revision != record.live_revision and state is not ProvisioningState.FAILED:
            if only_scale_changed(live_spec, spec):
                await self._scale(record, spec)
            else:
                await self._rollout(record, spec, live_spec)
            return
        await self._maintain(record.live_revision, live_spec)

    async def _prepare(self, spec: DeploymentSpec, revision: int) -> Prepared:
        if revision not in self._prepared:
            before = self.rollout
            loop = asyncio.get_running_loop()
            preparing = RolloutView(revision, 0, 0, 0, spec.instance_count, PREPARING)
            self.rollout = preparing

            def show(line: str) -> None:
                # Builds report from worker threads; the controller's state belongs to the loop.
                loop.call_soon_threadsafe(self._show_preparing, preparing, line)

            try:
                prepared = await self.s.runtime.prepare(spec, revision, show)
            finally:
                if self.rollout is not None and self.rollout.preparing:
                    self.rollout = before
            for warning in prepared.warnings:
                self.s.event(self.endpoint, self.name, "warning", warning)
            for note in prepared.notes:
                self.s.event(self.endpoint, self.name, "note", note)
            self._prepared[revision] = prepared
        return self._prepared[revision]

    def _show_preparing(self, preparing: RolloutView, line: str) -> None:
        if self.rollout is not None and self.rollout.preparing:
            self.rollout = dataclasses.replace(preparing, message=line.strip()[:200])

    async def _create(self, record: DeploymentRecord, spec: DeploymentSpec) -> None:
        revision = record.revision
        self.s.event(
            self.endpoint,
            self.name,
            "creating",
            f"revision {revision}: preparing environment and model",
            {"revision": revision},
        )
        try:
            prepared = await self._prepare(spec, revision)
            self.rollout = RolloutView(revision, 1, 1, 0, spec.instance_count, "starting")
            started = await self._start_ready(spec, revision, prepared, spec.instance_count)
        except RolloutFailed as failed:
            self.rollout = None
            self._fail(revision, failed, rolled_back=False)
            return
        except EndpointctlError as exc:
            self.rollout = None
            self._fail(revision, RolloutFailed(str(exc)), rolled_back=False)
            return
        self.rollout = None
        self._go_live(revision, spec)
        self.s.event(
            self.endpoint,
            self.name,
            "succeeded",
            f"revision {revision}: {len(started)} instance(s) ready",
            {"revision": revision},
        )

    async def _rollout(
        self, record: DeploymentRecord, spec: DeploymentSpec, live_spec: DeploymentSpec
    ) -> None:
        revision, live_revision = record.revision, record.live_revision
        assert live_revision is not None
        old = [i for i in self.instances if i.record.revision == live_revision]
        plan = plan_rollout(spec.instance_count)
        self.s.event(
            self.endpoint,
            self.name,
            "rollout",
            f"revision {revision}: rolling update in {plan.total_batches} batch(es) of ≤ {max(plan.batches)}",
            {"revision": revision, "batches": plan.total_batches},
        )
        new: list[Instance] = []
        retired: list[Instance] = []
        stopping: list[asyncio.Task[None]] = []
        try:
            prepared = await self._prepare(spec, revision)
            # Pipelined: while batch n is gated on readiness, batch n+1 is already starting, held out of
            # rotation until its turn. Starting a process (imports, init()) dominates a rollout, and two
            # starts overlap well even on two cores; at most two batches are ever in flight.
            upcoming: asyncio.Task[list[Instance]] | None = self._start_batch(
                spec, revision, prepared, plan.batches[0]
            )
            for number, size in enumerate(plan.batches, start=1):
                self.rollout = RolloutView(
                    revision, number, plan.total_batches, len(new), spec.instance_count, "starting batch"
                )
                assert upcoming is not None
                current, upcoming = upcoming, None
                try:
                    if number < plan.total_batches:
                        upcoming = self._start_batch(spec, revision, prepared, plan.batches[number])
                    batch = await current
                except BaseException:
                    if upcoming is not None:
                        new += await _settle(upcoming)
                    raise
                for instance in batch:
                    instance.held = False
                new += batch
                self.rollout = RolloutView(
                    revision, number, plan.total_batches, len(new), spec.instance_count, "draining"
                )
                take, old = old[:size], old[size:]
                # New ones into rotation and old ones out in one gateway update; the old stop in the background.
                for instance in take:
                    instance.draining = True
                await self.s.refresh_gateway()
                stopping.append(asyncio.create_task(self._retire(take)))
                retired += take
                self.s.event(
                    self.endpoint,
                    self.name,
                    "batch",
                    f"revision {revision}: batch {number}/{plan.total_batches} ready",
                    {"revision": revision, "batch": number, "batches": plan.total_batches},
                )
            if old:  # the new revision has fewer instances than the old one had
                await self._retire(old)
                retired += old
            await asyncio.gather(*stopping)
        except (RolloutFailed, EndpointctlError) as exc:
            await asyncio.gather(*stopping, return_exceptions=True)
            failed = exc if isinstance(exc, RolloutFailed) else RolloutFailed(str(exc))
            self.rollout = RolloutView(
                revision, 0, plan.total_batches, len(new), spec.instance_count, "rolling back"
            )
            await self._roll_back(live_revision, live_spec, new, replace=len(retired))
            await self._forget_revisions_but(live_revision)
            self.rollout = None
            self._fail(revision, failed, rolled_back=True, live_revision=live_revision)
            return
        self.rollout = None
        self._go_live(revision, spec)
        await self._forget_revisions_but(revision)
        self.s.event(
            self.endpoint,
            self.name,
            "succeeded",
            f"revision {revision}: rollout complete",
            {"revision": revision},
        )

    async def _roll_back(
        self, live_revision: int, live_spec: DeploymentSpec, new: list[Instance], replace: int
    ) -> None:
        if replace:
            prepared = await self._prepare(live_spec, live_revision)
            with contextlib.suppress(RolloutFailed):
                await self._start_ready(live_spec, live_revision, prepared, replace)
        await self._retire(new + [i for i in self.instances if i.record.revision not in (live_revision,)])

    async def _scale(self, record: DeploymentRecord, spec: DeploymentSpec) -> None:
        revision, live_revision = record.revision, record.live_revision
        current = [i for i in self.instances if i.record.revision == live_revision]
        self._set_state(ProvisioningState.SCALING)
        self.s.event(
            self.endpoint,
            self.name,
            "scaling",
            f"revision {revision}: {len(current)} → {spec.instance_count} instances",
        )
        try:
            if spec.instance_count > len(current):
                assert live_revision is not None
                prepared = await self._prepare(spec, live_revision)
                await self._start_ready(spec, live_revision, prepared, spec.instance_count - len(current))
            else:
                await self._retire(current[spec.instance_count :])
        except (RolloutFailed, EndpointctlError) as exc:
            failed = exc if isinstance(exc, RolloutFailed) else RolloutFailed(str(exc))
            await self._retire([i for i in self.instances if i not in current])
            self._fail(revision, failed, rolled_back=True, live_revision=live_revision)
            return
        # Same code, model and environment: the running instances simply carry the new revision number.
        for instance in self.instances:
            instance.record.revision = revision
            instance.record.save(self.s.layout.instances)
        if live_revision in self._prepared:
            self._prepared[revision] = self._prepared[live_revision]
        self._go_live(revision, spec)
        self.s.event(
            self.endpoint,
            self.name,
            "succeeded",
            f"revision {revision}: scaled to {spec.instance_count}",
            {"revision": revision},
        )

    async def _maintain(self, live_revision: int, live_spec: DeploymentSpec) -> None:
        """Steady state: keep `instance_count` instances of the live revision (e.g. after an agent restart)."""
        current = [
            i
            for i in self.instances
            if i.record.revision == live_revision and i.state is not InstanceState.FAILED
        ]
        strays = [i for i in self.instances if i not in current]
        if strays:
            await self._retire(strays)
        missing = live_spec.instance_count - len(current)
        if missing > 0:
            try:
                prepared = await self._prepare(live_spec, live_revision)
                await self._start_ready(live_spec, live_revision, prepared, missing)
            except (RolloutFailed, EndpointctlError) as exc:
                reason = exc.reason if isinstance(exc, RolloutFailed) else str(exc)
                self.s.event(self.endpoint, self.name, "warning", f"could not restore an instance: {reason}")
        elif missing < 0:
            await self._retire(current[live_spec.instance_count :])

    # --- instances --------------------------------------------------------------------------------
    def _start_batch(
        self, spec: DeploymentSpec, revision: int, prepared: Prepared, count: int
    ) -> asyncio.Task[list[Instance]]:
        return asyncio.create_task(self._start_ready(spec, revision, prepared, count, hold=True))

    async def _start_ready(
        self, spec: DeploymentSpec, revision: int, prepared: Prepared, count: int, *, hold: bool = False
    ) -> list[Instance]:
        """Start `count` instances and wait for all; on any failure stop them all and raise RolloutFailed.

        With `hold`, ready instances stay out of rotation until the caller releases them.
        """
        batch = [self._new_instance(spec, revision, prepared) for _ in range(count)]
        for instance in batch:
            instance.held = hold
            self.instances.append(instance)
            instance.start()
        results = await asyncio.gather(*(i.wait_ready() for i in batch))
        if all(results):
            self.s.changed()
            return batch
        failed = next(i for i, ok in zip(batch, results, strict=True) if not ok)
        detail = await asyncio.to_thread(_tail, Path(failed.record.log), LOG_TAIL_LINES)
        await self._retire(batch)
        # The user's exception first ("init() raised ValueError: … (score.py:12)"); the exit code after it.
        cause = failure_cause(detail)
        reason = f"{cause.describe()}; {failed.reason}" if cause is not None else failed.reason
        raise RolloutFailed(f"instance {failed.id}: {reason}", detail)

    def _new_instance(self, spec: DeploymentSpec, revision: int, prepared: Prepared) -> Instance:
        instance_id = f"{self.name}-{uuid.uuid4().hex[:8]}"
        record = InstanceRecord(
            id=instance_id,
            endpoint=self.endpoint,
            deployment=self.name,
            revision=revision,
            log=str(self.s.layout.instance_log(self.endpoint, self.name, instance_id)),
            env={
                **prepared.env,
                "WORKER_COUNT": prepared.env.get("WORKER_COUNT", "1"),
                "ENDPOINTCTL_MAX_CONCURRENT_REQUESTS": str(
                    spec.request_settings.max_concurrent_requests_per_instance
                ),
            },
            runtime=self.s.runtime.instance_data(prepared, spec),
        )
        return Instance(
            record,
            runtime=self.s.runtime,
            records_dir=self.s.layout.instances,
            readiness=spec.readiness_probe,
            liveness=spec.liveness_probe,
            on_change=self.s.changed,
        )

    async def _retire(self, instances: Iterable[Instance]) -> None:
        """Out of rotation first, then a graceful stop: in-flight requests finish on the old process."""
        batch = list(instances)
        if not batch:
            return
        for instance in batch:
            instance.draining = True
        await self.s.refresh_gateway()
        await asyncio.gather(*(i.stop() for i in batch))
        self.instances = [i for i in self.instances if i not in batch]
        self.s.changed()

    async def _forget_revisions_but(self, keep: int) -> None:
        """Once one revision alone runs, the others' staged files (or volumes) can go."""
        for revision in [r for r in self._prepared if r != keep]:
            del self._prepared[revision]
        try:
            await self.s.runtime.forget_revisions(
                self.endpoint, self.name, [i.record for i in self.instances]
            )
        except EndpointctlError as exc:
            self.s.event(self.endpoint, self.name, "warning", f"could not remove old revisions: {exc}")
        running = {i.record.id for i in self.instances}
        await asyncio.to_thread(
            prune_retired_logs, self.s.layout.log_dir(self.endpoint, self.name), running, len(running)
        )

    # --- state ------------------------------------------------------------------------------------
    def _set_state(self, state: ProvisioningState, reason: str = "") -> None:
        with self.s.store.transaction() as tx:
            tx.set_deployment_state(self.s.layout.backend, self.endpoint, self.name, str(state), reason)

    def _go_live(self, revision: int, spec: DeploymentSpec) -> None:
        with self.s.store.transaction() as tx:
            current = tx.get_deployment(self.s.layout.backend, self.endpoint, self.name)
            tx.set_deployment_live(
                self.s.layout.backend, self.endpoint, self.name, revision=revision, spec=spec
            )
            # A newer revision may have been accepted meanwhile: leave its Updating state for the next pass.
            if current is not None and current.revision == revision:
                tx.set_deployment_state(
                    self.s.layout.backend, self.endpoint, self.name, str(ProvisioningState.SUCCEEDED)
                )

    def _fail(
        self, revision: int, failed: RolloutFailed, *, rolled_back: bool, live_revision: int | None = None
    ) -> None:
        if rolled_back:
            reason = f"revision {revision} failed: {failed.reason}; rolled back, revision {live_revision} keeps serving"
        else:
            reason = f"revision {revision} failed: {failed.reason}"
        with self.s.store.transaction() as tx:
            current = tx.get_deployment(self.s.layout.backend, self.endpoint, self.name)
            if current is not None and current.revision == revision:
                tx.set_deployment_state(
                    self.s.layout.backend, self.endpoint, self.name, str(ProvisioningState.FAILED), reason
                )
        data: dict[str, Any] = {"revision": revision}
        if failed.detail:
            data["log_tail"] = failed.detail
        self.s.event(self.endpoint, self.name, "failed", reason, data)


async def _settle(task: asyncio.Task[list[Instance]]) -> list[Instance]:
    """The instances a pre-started batch produced, whatever became of it (for the rollback to remove)."""
    try:
        return await task
    except (RolloutFailed, EndpointctlError):
        return []  # it already removed its own instances


def _tail(path: Path, lines: int) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
