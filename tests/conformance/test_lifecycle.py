"""The life of one endpoint, the same on every backend, through the service façade the CLI and TUI call.

Every backend gets the same scenarios in the same order, against one endpoint per backend: create it with
blue taking all traffic, invoke, add green and split the traffic, keys, logs, metrics, a rolling update, a
failing update, events, deletions. Each scenario first makes sure what it builds on is there, so it also runs
alone (`-k`), only slower. Where a backend cannot show something, the scenario asserts the reason the backend
gives (its capability's reason) or states what its test double cannot show — it never skips (but for Docker
without an engine outside CI, as tests/backends/engine.py's require_engine() rules).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from endpointctl.core.capabilities import Capabilities, Capability
from endpointctl.core.errors import Conflict, NotFound, NotSupported, OperationFailed
from endpointctl.core.spec import load_deployment, load_endpoint
from endpointctl.core.views import Container, DeploymentView, InstanceState, ProvisioningState
from tests.conformance.harness import BROKEN_MESSAGE, ENDPOINT, Harness, endpoint_exists

pytestmark = pytest.mark.asyncio(loop_scope="module")

# A rollout normally takes seconds; the first one on a machine builds the sample's environment (uv on the
# process backend, an image on Docker), which the timeout of the first scenario allows for.
DEPLOY_TIMEOUT_S = 600.0
FIRST_DEPLOY_TEST_TIMEOUT_S = 900
SPLIT_REQUESTS = 100


# --- what scenarios build on -----------------------------------------------------------------------------


def capabilities(harness: Harness) -> Capabilities:
    return harness.service.capabilities(harness.name)


async def expect_not_supported(
    harness: Harness, capability: Capability, call: Callable[[], Awaitable[object]]
) -> None:
    """The façade refuses `call` with NotSupported naming the backend's reason for lacking `capability`."""
    reason = capabilities(harness).why_not(capability)
    assert reason is not None, f"{harness.name} supports {capability}"
    with pytest.raises(NotSupported) as refused:
        await call()
    assert reason in str(refused.value), refused.value


async def deploy(harness: Harness, colour: str, *sets: str, all_traffic: bool = False) -> DeploymentView:
    view = await harness.service.apply_deployment(
        harness.deployment_spec(colour, *sets),
        backend=harness.name,
        all_traffic=all_traffic,
        timeout_s=DEPLOY_TIMEOUT_S,
    )
    await harness.settle()
    return view


async def ensure_blue(harness: Harness) -> None:
    """The endpoint, with blue taking all of its traffic."""
    if not await endpoint_exists(harness):
        await harness.service.create_endpoint(harness.endpoint_spec(), backend=harness.name)
    names = [d.name for d in await harness.service.list_deployments(ENDPOINT, backend=harness.name)]
    if "blue" not in names:
        await deploy(harness, "blue", all_traffic=True)


async def ensure_green(harness: Harness) -> None:
    await ensure_blue(harness)
    names = [d.name for d in await harness.service.list_deployments(ENDPOINT, backend=harness.name)]
    if "green" not in names:
        await deploy(harness, "green")


async def invoke(harness: Harness, deployment: str | None = None) -> tuple[str | None, Any]:
    """One scoring request through the façade: the deployment that answered, and its prediction."""
    answered, value = await invoke_raw(harness, deployment)
    if not harness.runs_the_model:
        # The ARM double's scoring router runs no model: it answers which deployment it chose and echoes the
        # request, so the routing, keys and pinning are checked, the prediction is not.
        assert isinstance(value, dict) and value["received"] == json.loads(harness.request), value
        return answered, value
    assert isinstance(value, list) and len(value) == 2, f"not one prediction per request row: {value!r}"
    assert all(isinstance(v, float) for v in value), value
    return answered, value


async def invoke_raw(harness: Harness, deployment: str | None = None) -> tuple[str | None, Any]:
    result = await harness.service.invoke(
        ENDPOINT, harness.request, deployment=deployment, backend=harness.name
    )
    assert result.status == 200, f"{harness.name}: invoke answered {result.status}: {result.body!r}"
    value = json.loads(result.body)
    if isinstance(value, str):  # az ml's scoring hosts return run()'s result JSON-encoded once more
        value = json.loads(value)
    return result.deployment, value


async def scoring_uri(harness: Harness) -> str:
    uri = (await harness.service.get_endpoint(ENDPOINT, backend=harness.name)).scoring_uri
    assert uri, f"{harness.name}: the endpoint has no scoring_uri"
    return uri


# --- the scenarios, in order -----------------------------------------------------------------------------


@pytest.mark.timeout(FIRST_DEPLOY_TEST_TIMEOUT_S)
async def test_create_endpoint_and_blue_with_all_traffic(harness: Harness) -> None:
    svc, name = harness.service, harness.name
    if await endpoint_exists(harness):
        pytest.fail(f"{ENDPOINT} already exists on {name}: this scenario must run first")
    created = await svc.create_endpoint(harness.endpoint_spec(), backend=name)
    assert created.name == ENDPOINT and created.provisioning_state is ProvisioningState.SUCCEEDED
    blue = await deploy(harness, "blue", all_traffic=True)
    assert blue.provisioning_state is ProvisioningState.SUCCEEDED, blue.reason

    endpoint = await svc.get_endpoint(ENDPOINT, backend=name)
    assert endpoint.provisioning_state is ProvisioningState.SUCCEEDED
    assert dict(endpoint.traffic) == {"blue": 100}
    assert endpoint.scoring_uri and endpoint.scoring_uri.endswith("/score")
    assert [e.name for e in await svc.list_endpoints(backend=name)] == [ENDPOINT]
    deployments = await svc.list_deployments(ENDPOINT, backend=name)
    assert [(d.name, d.provisioning_state) for d in deployments] == [("blue", ProvisioningState.SUCCEEDED)]
    status = {s.name: s for s in await svc.statuses()}[name]
    assert status.available, status.reason
    assert status.capabilities.supported == capabilities(harness).supported


async def test_invoke_is_answered_by_blue(harness: Harness) -> None:
    await ensure_blue(harness)
    routed, prediction = await invoke(harness)
    assert routed == "blue"
    pinned, pinned_prediction = await invoke(harness, "blue")
    assert pinned == "blue" and pinned_prediction == prediction
    harness.memo["blue"] = prediction
    unknown = await harness.service.invoke(
        ENDPOINT, harness.request, deployment="nonexistent", backend=harness.name
    )
    assert unknown.status == 404, (
        f"pinned to a deployment that does not exist: {unknown.status} {unknown.body!r}"
    )


MODEL_LAYOUT_SCORE_PY = """
import os


def init():
    pass


def run(raw_data):
    root = os.environ["AZUREML_MODEL_DIR"]
    return sorted(
        os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/")
        for folder, _, names in os.walk(root)
        for name in names
    )
"""


async def test_an_inline_model_folder_keeps_its_name_under_azureml_model_dir(
    harness: Harness, request: pytest.FixtureRequest
) -> None:
    """Azure ML puts `model.path: ../model/` at AZUREML_MODEL_DIR/model/, and the samples' score.py reads
    it there: a deployment whose score.py lists AZUREML_MODEL_DIR shows where each backend put it."""
    svc, name = harness.service, harness.name
    await ensure_blue(harness)
    code = harness.folder / "model-layout"
    code.mkdir(exist_ok=True)
    (code / "score.py").write_text(MODEL_LAYOUT_SCORE_PY)
    # The unmodified sample's model, whatever the harness does to it elsewhere.
    spec = load_deployment(harness.samples.blue, ["name=layout", f"code_configuration.code={code}"])
    try:
        await svc.apply_deployment(spec, backend=name, timeout_s=DEPLOY_TIMEOUT_S)
        await harness.settle()
        answered, files = await invoke_raw(harness, "layout")
        assert answered == "layout"
        if harness.runs_the_model:
            assert files == ["model/sklearn_regression_model.pkl"]
        else:
            # The ARM double runs no scoring code; Azure ML itself is where the rule comes from.
            assert files["deployment"] == "layout", files
    finally:
        if "layout" in [d.name for d in await svc.list_deployments(ENDPOINT, backend=name)]:
            await svc.delete_deployment(ENDPOINT, "layout", backend=name)
            await harness.settle()


async def test_green_at_zero_then_a_90_10_split_and_a_pinned_invoke(harness: Harness) -> None:
    svc, name = harness.service, harness.name
    await ensure_blue(harness)
    green = await deploy(harness, "green")
    assert green.provisioning_state is ProvisioningState.SUCCEEDED, green.reason
    endpoint = await svc.get_endpoint(ENDPOINT, backend=name)
    assert dict(endpoint.traffic) == {"blue": 100, "green": 0}
    assert {(await invoke(harness))[0] for _ in range(10)} == {"blue"}, "green took traffic at 0%"

    split = await svc.set_traffic(ENDPOINT, traffic={"blue": 90, "green": 10}, backend=name)
    assert dict(split.traffic) == {"blue": 90, "green": 10}
    await harness.settle()
    served = Counter([(await invoke(harness))[0] for _ in range(SPLIT_REQUESTS)])
    assert set(served) == {"blue", "green"}, served
    # Weighted round robin gives exactly 10 of 100 when nothing else routes in between; allow some slack.
    assert 5 <= served["green"] <= 15, served

    pinned, prediction = await invoke(harness, "green")
    assert pinned == "green"
    blue = harness.memo.get("blue") or (await invoke(harness, "blue"))[1]
    if harness.runs_the_model:
        assert prediction != blue, "green (model-2) answered what blue (model-1) answers"


async def test_updating_the_endpoint_from_its_file_keeps_traffic_and_keys(harness: Harness) -> None:
    """`online-endpoint update -f endpoint.yml --set …`: what the file does not mention stays as it is."""
    svc, name = harness.service, harness.name
    await ensure_green(harness)
    before = await svc.get_endpoint(ENDPOINT, backend=name)
    keys = await svc.get_credentials(ENDPOINT, backend=name)
    spec = load_endpoint(harness.samples.endpoint, ["tags.stage=conformance", "description=updated"])
    updated = await svc.update_endpoint(spec, backend=name)
    assert updated.provisioning_state is ProvisioningState.SUCCEEDED
    await harness.settle()
    shown = await svc.get_endpoint(ENDPOINT, backend=name)
    assert shown.spec.tags.get("stage") == "conformance" and shown.spec.description == "updated"
    assert dict(shown.traffic) == dict(before.traffic) and shown.scoring_uri == before.scoring_uri
    after = await svc.get_credentials(ENDPOINT, backend=name)
    assert (after.primary_key, after.secondary_key) == (keys.primary_key, keys.secondary_key)
    assert (await invoke(harness, "blue"))[0] == "blue"


async def test_credentials_and_a_regenerated_primary_key(harness: Harness) -> None:
    svc, name = harness.service, harness.name
    await ensure_blue(harness)
    before = await svc.get_credentials(ENDPOINT, backend=name)
    assert before.auth_mode == "key"
    assert before.primary_key and before.secondary_key and before.primary_key != before.secondary_key

    await svc.regenerate_keys(ENDPOINT, "primary", backend=name)
    after = await svc.get_credentials(ENDPOINT, backend=name)
    assert after.primary_key and after.primary_key != before.primary_key
    assert after.secondary_key == before.secondary_key
    await harness.settle()

    uri = await scoring_uri(harness)
    async with httpx.AsyncClient(timeout=30) as client:

        async def status_with(key: str) -> int:
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            return (await client.post(uri, content=harness.request, headers=headers)).status_code

        assert await status_with(before.primary_key) == 401, "the old primary key still works"
        assert await status_with("not-a-key") == 401
        assert await status_with(after.primary_key) == 200
        assert await status_with(after.secondary_key) == 200
    assert (await invoke(harness))[0] is not None  # the façade moved on to the new key


async def test_logs_of_both_containers(harness: Harness) -> None:
    svc, name = harness.service, harness.name
    await ensure_blue(harness)
    if Capability.LOGS not in capabilities(harness):
        await expect_not_supported(
            harness, Capability.LOGS, lambda: svc.get_logs(ENDPOINT, "blue", backend=name)
        )
        return
    for container in Container:
        lines = await svc.get_logs(ENDPOINT, "blue", container=container, lines=50, backend=name)
        assert lines, f"{name}: no {container} log lines for blue"
        assert 0 < len(lines) <= 50
        assert {line.container for line in lines} == {container}
        last = await svc.get_logs(ENDPOINT, "blue", container=container, lines=1, backend=name)
        assert len(last) == 1 and last[0].container is container


async def test_follow_logs_yields_the_lines_written_after_it_started(harness: Harness) -> None:
    svc, name = harness.service, harness.name
    await ensure_blue(harness)
    if Capability.LOG_FOLLOW not in capabilities(harness):
        await expect_not_supported(
            harness, Capability.LOG_FOLLOW, lambda: _first(svc.follow_logs(ENDPOINT, "blue", backend=name))
        )
        return
    stream = svc.follow_logs(ENDPOINT, "blue", backend=name)
    following = asyncio.ensure_future(_first(stream))
    try:
        await asyncio.sleep(0.5)  # the stream attaches (reads where the log ends) before a line is written
        written = []
        deadline = time.monotonic() + 20
        while not following.done():
            assert time.monotonic() < deadline, f"{name}: follow_logs yielded nothing in 20 s"
            written.append(await harness.write_log_line("blue"))
            await asyncio.wait({following}, timeout=1.0)
        first = following.result()
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
    assert first.container is Container.INFERENCE_SERVER
    assert any(recognise(first.text) for recognise in written), (
        f"{name}: the first line followed was in the log before the stream started: {first.text!r}"
    )


async def _first(stream: Any) -> Any:
    try:
        return await anext(stream)
    finally:
        await stream.aclose()


async def test_metrics_count_the_requests_each_deployment_answered(harness: Harness) -> None:
    svc, name = harness.service, harness.name
    await ensure_green(harness)
    if Capability.METRICS not in capabilities(harness):
        await expect_not_supported(harness, Capability.METRICS, lambda: svc.metrics(ENDPOINT, backend=name))
        return
    before = (await svc.metrics(ENDPOINT, backend=name)).deployments.get("green")
    for _ in range(5):
        assert (await invoke(harness, "green"))[0] == "green"

    def counted(snapshot: Any) -> tuple[int, int]:
        green = snapshot.deployments.get("green")
        requests = (green.requests if green else 0) - (before.requests if before else 0)
        ok = (green.by_status.get("2xx", 0) if green else 0) - (
            before.by_status.get("2xx", 0) if before else 0
        )
        return requests, ok

    deadline = time.monotonic() + 10
    while counted(after := await svc.metrics(ENDPOINT, backend=name)) != (5, 5):
        assert time.monotonic() < deadline, f"{name}: green's counters moved by {counted(after)}, not (5, 5)"
        await asyncio.sleep(0.2)
    green = after.deployments["green"]
    assert green.p50_ms is not None and green.p99_ms is not None and green.p50_ms <= green.p99_ms
    assert after.endpoint == ENDPOINT and "blue" in after.deployments


async def test_rolling_update_succeeds_and_the_new_revision_answers(harness: Harness) -> None:
    svc, name = harness.service, harness.name
    await ensure_blue(harness)
    before = await svc.get_deployment(ENDPOINT, "blue", backend=name)
    _, answer_before = await invoke(harness, "blue")

    updated = await deploy(harness, "blue", "environment_variables.ROLL=2")
    assert updated.provisioning_state is ProvisioningState.SUCCEEDED, updated.reason
    shown = await svc.get_deployment(ENDPOINT, "blue", backend=name)
    assert shown.provisioning_state is ProvisioningState.SUCCEEDED
    assert shown.spec.environment_variables.get("ROLL") == "2"
    if harness.shows_instances:
        assert shown.revision > before.revision
        assert len(shown.instances) == shown.spec.instance_count
        assert {(i.revision, i.state) for i in shown.instances} == {(shown.revision, InstanceState.READY)}
    else:
        assert (shown.revision, shown.instances) == (1, ())
    pinned, answer_after = await invoke(harness, "blue")
    assert pinned == "blue" and answer_after == answer_before
    harness.memo["blue"] = answer_after


async def failed_rollout(harness: Harness) -> tuple[DeploymentView, DeploymentView, str]:
    """Blue before and after an update whose score.py cannot start, and what the façade raised (once)."""
    if "failed rollout" not in harness.memo:
        svc, name = harness.service, harness.name
        await ensure_blue(harness)
        before = await svc.get_deployment(ENDPOINT, "blue", backend=name)
        if Capability.EVENTS in capabilities(harness):
            harness.memo["events before failure"] = max(
                (e.id for e in await svc.events(ENDPOINT, backend=name)), default=0
            )
        with harness.failing(), pytest.raises(OperationFailed) as failure:
            await svc.apply_deployment(harness.failing_update(), backend=name, timeout_s=DEPLOY_TIMEOUT_S)
        await harness.settle()
        after = await svc.get_deployment(ENDPOINT, "blue", backend=name)
        harness.memo["failed rollout"] = (before, after, str(failure.value))
    result: tuple[DeploymentView, DeploymentView, str] = harness.memo["failed rollout"]
    return result


async def test_failing_update_ends_failed_and_the_old_revision_keeps_answering(harness: Harness) -> None:
    await ensure_blue(harness)
    _, answer_before = await invoke(harness, "blue")
    before, after, raised = await failed_rollout(harness)
    assert after.provisioning_state is ProvisioningState.FAILED
    if harness.runs_the_failure:
        # The cause, not only an exit code: the user's exception and the line of score.py that raised it.
        assert f"init() raised {BROKEN_MESSAGE} (score.py:" in after.reason, after.reason
        assert f"init() raised {BROKEN_MESSAGE}" in raised, raised
    if harness.shows_instances:
        assert "rolled back" in raised and "rolled back" in after.reason, (raised, after.reason)
        assert len(after.instances) == before.spec.instance_count
        assert {i.state for i in after.instances} == {InstanceState.READY}
    else:
        # ARM reports the operation's error as it is; whether Azure kept the old instances is not visible.
        assert BROKEN_MESSAGE in raised, raised
    pinned, answer_after = await invoke(harness, "blue")
    assert pinned == "blue" and answer_after == answer_before


async def test_events_record_the_failed_rollout(harness: Harness) -> None:
    svc, name = harness.service, harness.name
    await ensure_blue(harness)
    if Capability.EVENTS not in capabilities(harness):
        await expect_not_supported(harness, Capability.EVENTS, lambda: svc.events(ENDPOINT, backend=name))
        return
    await failed_rollout(harness)
    events = await svc.events(ENDPOINT, backend=name)
    ids = [e.id for e in events]
    assert ids and ids == sorted(set(ids)), ids
    since = harness.memo["events before failure"]
    fresh = await svc.events(ENDPOINT, after_id=since, backend=name)
    assert fresh and all(e.id > since for e in fresh)
    failures = [e for e in fresh if e.deployment == "blue" and "fail" in f"{e.kind} {e.message}".lower()]
    assert failures, f"{name}: no event tells blue's rollout failed: {fresh}"
    assert await svc.events(ENDPOINT, after_id=ids[-1], backend=name) == []


async def test_a_deployment_with_traffic_cannot_be_deleted_one_without_can(harness: Harness) -> None:
    svc, name = harness.service, harness.name
    await ensure_green(harness)
    await svc.set_traffic(ENDPOINT, traffic={"blue": 100, "green": 0}, backend=name)
    await harness.settle()
    with pytest.raises(Conflict, match="receives 100%"):
        await svc.delete_deployment(ENDPOINT, "blue", backend=name)
    await svc.delete_deployment(ENDPOINT, "green", backend=name)
    await harness.settle()
    assert [d.name for d in await svc.list_deployments(ENDPOINT, backend=name)] == ["blue"]
    with pytest.raises(NotFound):
        await svc.get_deployment(ENDPOINT, "green", backend=name)
    assert dict((await svc.get_endpoint(ENDPOINT, backend=name)).traffic) == {"blue": 100}
    assert (await invoke(harness))[0] == "blue"


async def test_deleting_the_endpoint_leaves_nothing_and_stops_serving(harness: Harness) -> None:
    svc, name = harness.service, harness.name
    await ensure_blue(harness)
    uri = await scoring_uri(harness)
    key = (await svc.get_credentials(ENDPOINT, backend=name)).primary_key
    await svc.delete_endpoint(ENDPOINT, backend=name)
    with pytest.raises(NotFound):
        await svc.get_endpoint(ENDPOINT, backend=name)
    assert await svc.list_endpoints(backend=name) == []
    await harness.settle()
    assert harness.leftovers() == []
    async with httpx.AsyncClient(timeout=10) as client:
        try:
            response = await client.post(
                uri, content=harness.request, headers={"Authorization": f"Bearer {key}"}
            )
        except httpx.ConnectError:
            return
    assert response.status_code == 404, f"{name}: the deleted endpoint's URI answered {response.status_code}"
