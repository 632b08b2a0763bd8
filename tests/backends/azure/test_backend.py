"""The azure backend against the ARM double, through the service façade as the CLI and TUI use it."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from endpointctl.backends.azure.assets import DIGEST_PROPERTY
from endpointctl.backends.azure.backend import AzureBackend
from endpointctl.core.context import BackendContext
from endpointctl.core.errors import BackendUnavailable, InvalidInput, OperationFailed
from endpointctl.core.home import Home
from endpointctl.core.service import EndpointService
from endpointctl.core.spec import load_deployment, load_endpoint
from endpointctl.core.views import Container, ProvisioningState
from tests.backends.azure.conftest import OID, UPN, FakeCredential, Sleeps, configure, no_credential
from tests.backends.azure.double import ACCOUNT, CONTAINER, RG, SUB, WS, ArmDouble, make_token
from tests.backends.azure.schema import validate
from tests.conftest import SAMPLES

SAMPLE = SAMPLES / "managed" / "sample"


async def deploy_blue(service: EndpointService) -> None:
    await service.create_endpoint(load_endpoint(SAMPLE / "endpoint.yml"), backend="azure")
    await service.apply_deployment(load_deployment(SAMPLE / "blue-deployment.yml"), backend="azure")


def _kind(url: str) -> str:
    return url.split("?")[0].split("/")[-4]


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def azure(service: EndpointService) -> AzureBackend:
    backend = service.backend("azure")
    assert isinstance(backend, AzureBackend)
    return backend


async def test_local_assets_are_uploaded_registered_and_reused(
    service: EndpointService, double: ArmDouble
) -> None:
    await deploy_blue(service)
    spec = load_deployment(SAMPLE / "blue-deployment.yml")
    model_dir = Path(str(spec.model.path))  # type: ignore[union-attr]
    # Every file of the model and code folders landed in the datastore, byte for byte.
    uploaded = {name.split("/", 2)[2]: data for name, data in double.blobs.items()}
    expected = _files(model_dir)
    assert expected and all(uploaded[f"model/{rel}"] == data for rel, data in expected.items())
    assert any(name.endswith("onlinescoring/score.py") for name in uploaded)
    kinds = sorted(k for k, _, _ in double.assets)
    assert kinds == ["codes", "environments", "models"]
    deployment = double.deployments[("my-endpoint", "blue")]["properties"]
    for kind, ref in (
        ("models", deployment["model"]),
        ("environments", deployment["environmentId"]),
        ("codes", deployment["codeConfiguration"]["codeId"]),
    ):
        assert ref.startswith(f"{double.workspace_path}/{kind}/") and ref.endswith("/versions/1")
    env = next(v for (k, _, _), v in double.assets.items() if k == "environments")
    assert "scikit-learn" in env["properties"]["condaFile"]
    assert env["properties"]["properties"][DIGEST_PROPERTY].startswith("sha256:")

    # The same content again: no upload, no new registration, the same ids.
    blobs, asset_puts = len(double.blobs), len(double.arm_calls("PUT", "/versions/"))
    await service.apply_deployment(spec.model_copy(update={"description": "again"}), backend="azure")
    assert len(double.arm_calls("PUT", "/versions/")) == asset_puts
    resolver = azure(service).last_resolver
    assert len(double.blobs) == blobs and resolver is not None and resolver.uploaded == []
    assert double.deployments[("my-endpoint", "blue")]["properties"]["model"] == deployment["model"]


async def test_large_files_go_up_as_blocks(
    context: BackendContext, credential: FakeCredential, sleeps: Sleeps, double: ArmDouble, tmp_path: Path
) -> None:
    from endpointctl.backends.azure.arm import Tuning

    tuning = Tuning(single_put_max=100, block_size=64, sleep=sleeps)
    backend = AzureBackend(context, credential_factory=lambda: credential, tuning=tuning)
    service = EndpointService(context, {"azure": lambda _ctx: backend})
    model = tmp_path / "model"
    model.mkdir()
    payload = bytes(range(256)) * 3
    (model / "weights.bin").write_bytes(payload)
    (model / "small.txt").write_text("tiny")
    await service.create_endpoint(load_endpoint(SAMPLE / "endpoint.yml"), backend="azure")
    spec = load_deployment(SAMPLE / "blue-deployment.yml", [f"model.path={model}"])
    await service.apply_deployment(spec, backend="azure")
    stored = {name.rsplit("/", 1)[1]: data for name, data in double.blobs.items() if "/model/" in name}
    assert stored == {"weights.bin": payload, "small.txt": b"tiny"}
    assert not double.blocks  # every staged block was committed by a block list
    await backend.close()


async def test_long_running_failure_is_surfaced_with_arms_code_and_message(
    service: EndpointService, double: ArmDouble
) -> None:
    double.failing["blue"] = ("Failed", "ImageBuildFailure", "conda could not solve the environment")
    with pytest.raises(OperationFailed) as info:
        await deploy_blue(service)
    assert "deployment my-endpoint/blue ended Failed" in str(info.value)
    assert "ImageBuildFailure: conda could not solve the environment" in str(info.value)
    view = await service.get_deployment("my-endpoint", "blue", backend="azure")
    assert view.provisioning_state is ProvisioningState.FAILED


async def test_canceled_operation_ends_the_wait(service: EndpointService, double: ArmDouble) -> None:
    double.failing["blue"] = ("Canceled", "OperationCanceled", "a newer deployment replaced this one")
    with pytest.raises(OperationFailed, match="ended Canceled: OperationCanceled"):
        await deploy_blue(service)


async def test_a_failed_delete_reports_the_location_polls_error(
    service: EndpointService, double: ArmDouble
) -> None:
    await deploy_blue(service)
    double.failing_deletes["blue"] = ("DeploymentDeleteFailed", "the scale set is locked")
    with pytest.raises(OperationFailed) as info:
        await service.delete_deployment("my-endpoint", "blue", backend="azure")
    assert str(info.value) == (
        "azure: delete deployment my-endpoint/blue ended Failed: DeploymentDeleteFailed: the scale set is locked"
    )
    assert ("my-endpoint", "blue") in double.deployments
    polls = double.arm_calls("GET", "/operationResults/")
    # One 202 (still running), then the failure: a 5xx may be transient, so it is retried (4 attempts)
    # before it counts as the operation's outcome.
    assert len(polls) == 1 + 4


async def test_polling_honours_retry_after(
    service: EndpointService, double: ArmDouble, sleeps: Sleeps
) -> None:
    double.retry_after = "7"
    double.lro_polls = 2
    await deploy_blue(service)
    # Every poll of the endpoint's and deployment's operations waited what ARM asked for (7 s, up to timing).
    polls = [w for w in sleeps.waits if w > 1]
    assert len(polls) >= 4 and all(5 < w <= 7 for w in polls)


async def test_no_wait_returns_after_the_first_response(service: EndpointService, double: ArmDouble) -> None:
    double.lro_polls = 3
    await service.create_endpoint(load_endpoint(SAMPLE / "endpoint.yml"), backend="azure")
    spec = load_deployment(SAMPLE / "blue-deployment.yml")
    view = await service.apply_deployment(spec, backend="azure", wait=False)
    assert view.provisioning_state is ProvisioningState.CREATING
    assert double.deployments[("my-endpoint", "blue")]["properties"]["provisioningState"] == "Creating"
    done = await service.wait_for_deployment("my-endpoint", "blue", backend="azure")
    assert done.provisioning_state is ProvisioningState.SUCCEEDED


async def test_reads_during_an_operation_never_wait_for_retry_after(
    service: EndpointService, double: ArmDouble, sleeps: Sleeps
) -> None:
    double.lro_polls = 3
    await service.create_endpoint(load_endpoint(SAMPLE / "endpoint.yml"), backend="azure")
    double.retry_after = "7"
    spec = load_deployment(SAMPLE / "blue-deployment.yml")
    await service.apply_deployment(spec, backend="azure", wait=False)
    waited = len(sleeps.waits)
    # What the TUI's refresh and `show` do while the deployment is being created: no sleep, the known state.
    for _ in range(3):
        view = await service.get_deployment("my-endpoint", "blue", backend="azure")
        assert view.provisioning_state is ProvisioningState.CREATING
    assert sleeps.waits[waited:] == []
    # Following it (the façade's wait) does honour Retry-After between polls.
    done = await service.wait_for_deployment("my-endpoint", "blue", backend="azure")
    assert done.provisioning_state is ProvisioningState.SUCCEEDED
    assert [w for w in sleeps.waits[waited:] if w > 1]


async def test_endpoint_changes_report_progress_or_return_at_once(
    service: EndpointService, double: ArmDouble
) -> None:
    double.lro_polls = 2
    seen: list[str] = []
    view = await service.create_endpoint(
        load_endpoint(SAMPLE / "endpoint.yml"), backend="azure", progress=seen.append
    )
    assert seen == ["InProgress", "InProgress", "Succeeded"]
    assert view.provisioning_state is ProvisioningState.SUCCEEDED

    await service.delete_endpoint("my-endpoint", backend="azure", wait=False)
    still = await service.get_endpoint("my-endpoint", backend="azure")
    assert still.provisioning_state is ProvisioningState.DELETING
    assert double.arm_calls("GET", "/operationResults/") == []  # nobody polled: --no-wait returned at once
    double.settle()
    assert await service.list_endpoints(backend="azure") == []


async def test_throttling_and_server_errors_are_retried(
    service: EndpointService, double: ArmDouble, sleeps: Sleeps
) -> None:
    double.retry_after = "3"
    double.throttle = 2
    double.server_errors = 1
    assert await service.list_endpoints(backend="azure") == []
    assert sleeps.waits == [3.0, 3.0, 3.0]
    assert [r.method for r in double.arm_calls()] == ["GET"] * 4


async def test_throttling_that_never_ends_reports_arms_error(
    service: EndpointService, double: ArmDouble
) -> None:
    double.throttle = 100
    with pytest.raises(OperationFailed, match=r"TooManyRequests: throttled \(HTTP 429\)"):
        await service.list_endpoints(backend="azure")


async def test_a_rejected_token_names_the_identity(
    context: BackendContext, double: ArmDouble, sleeps: Sleeps
) -> None:
    from endpointctl.backends.azure.arm import Tuning

    forged = FakeCredential(make_token(OID, upn=UPN, secret=b"another tenant"))
    backend = AzureBackend(context, credential_factory=lambda: forged, tuning=Tuning(sleep=sleeps))
    with pytest.raises(BackendUnavailable) as info:
        await backend.list_endpoints()
    message = str(info.value)
    assert f"user {UPN}" in message and f"object id {OID}" in message
    assert "InvalidAuthenticationToken" in message and "az login" in message
    assert forged.token not in message
    status = await backend.status()
    assert not status.available and "InvalidAuthenticationToken" in status.reason
    await backend.close()


async def test_a_missing_role_names_the_identity_and_the_action(
    context: BackendContext, double: ArmDouble, sleeps: Sleeps
) -> None:
    from endpointctl.backends.azure.arm import Tuning

    outsider = FakeCredential(make_token("99999999-0000-0000-0000-000000000000", appid="ci-deployer"))
    backend = AzureBackend(context, credential_factory=lambda: outsider, tuning=Tuning(sleep=sleeps))
    with pytest.raises(BackendUnavailable) as info:
        await backend.apply_endpoint(load_endpoint(SAMPLE / "endpoint.yml"))
    message = str(info.value)
    assert "app ci-deployer" in message and "object id 99999999-0000-0000-0000-000000000000" in message
    assert "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/read" in message
    assert "AzureML Data Scientist" in message and "AuthorizationFailed" in message
    await backend.close()


async def test_nothing_secret_reaches_the_logs(
    service: EndpointService, double: ArmDouble, credential: FakeCredential, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    double.throttle = 1
    await deploy_blue(service)
    await service.set_traffic("my-endpoint", traffic={"blue": 100}, backend="azure")
    creds = await service.get_credentials("my-endpoint", backend="azure")
    await service.invoke("my-endpoint", b"{}", backend="azure")
    await service.regenerate_keys("my-endpoint", "secondary", backend="azure")
    secrets = [credential.token, double.account_key, *double.keys["my-endpoint"], creds.primary_key or "?"]
    assert "listKeys" in caplog.text and "429" in caplog.text  # the calls were logged…
    for secret in secrets:
        assert secret not in caplog.text  # …but never what authorises them
    assert double.account_key not in repr(azure(service).last_resolver._datastore)  # type: ignore[union-attr]


async def test_keys_tokens_logs_and_invoke(service: EndpointService, double: ArmDouble) -> None:
    await deploy_blue(service)
    await service.set_traffic("my-endpoint", traffic={"blue": 100}, backend="azure")
    creds = await service.get_credentials("my-endpoint", backend="azure")
    assert [creds.primary_key, creds.secondary_key] == double.keys["my-endpoint"]
    result = await service.invoke("my-endpoint", b'{"data": [[1]]}', backend="azure")
    assert result.status == 200 and result.deployment == "blue"
    assert json.loads(result.body)["received"] == {"data": [[1]]}
    old_primary = creds.primary_key
    await service.regenerate_keys("my-endpoint", "primary", backend="azure")
    after = await service.get_credentials("my-endpoint", backend="azure")
    assert after.primary_key != old_primary and after.secondary_key == creds.secondary_key
    assert validate("RegenerateEndpointKeysRequest", double.arm_calls("POST", "regenerateKeys")[0].body) == []

    logs = await service.get_logs("my-endpoint", "blue", lines=3, backend="azure")
    assert [line.text for line in logs] == [
        f"inference-server my-endpoint/blue line {i}" for i in (18, 19, 20)
    ]
    init = await service.get_logs(
        "my-endpoint", "blue", container=Container.STORAGE_INITIALIZER, lines=1, backend="azure"
    )
    assert [(line.text, line.container) for line in init] == [
        ("storage-initializer my-endpoint/blue line 20", Container.STORAGE_INITIALIZER)
    ]
    assert double.arm_calls("POST", "getLogs")[-1].body == {"containerType": "StorageInitializer", "tail": 1}


async def test_aml_token_endpoints_invoke_with_a_token(service: EndpointService, double: ArmDouble) -> None:
    spec = load_endpoint(SAMPLE / "endpoint.yml", ["auth_mode=aml_token"])
    await service.create_endpoint(spec, backend="azure")
    await service.apply_deployment(load_deployment(SAMPLE / "blue-deployment.yml"), backend="azure")
    creds = await service.get_credentials("my-endpoint", backend="azure")
    assert creds.auth_mode == "aml_token" and creds.access_token in double.tokens
    assert creds.expiry_time_utc is not None and creds.refresh_after_time_utc is not None
    result = await service.invoke("my-endpoint", b"{}", deployment="blue", backend="azure")
    assert result.status == 200 and result.headers["azureml-model-deployment"] == "blue"


async def test_scale_only_updates_patch_the_sku(service: EndpointService, double: ArmDouble) -> None:
    await deploy_blue(service)
    spec = load_deployment(SAMPLE / "blue-deployment.yml", ["instance_count=3"])
    view = await service.apply_deployment(spec, backend="azure")
    assert view.spec.instance_count == 3
    patch = double.arm_calls("PATCH")
    assert [p.body for p in patch] == [{"sku": {"capacity": 3}}]
    changed = load_deployment(SAMPLE / "blue-deployment.yml", ["environment_variables.MODE=fast"])
    await service.apply_deployment(changed, backend="azure")
    assert len(double.arm_calls("PATCH")) == 1  # anything else is a PUT of the whole deployment
    assert double.deployments[("my-endpoint", "blue")]["properties"]["environmentVariables"] == {
        "MODE": "fast"
    }


async def test_lists_follow_next_link(service: EndpointService, double: ArmDouble) -> None:
    double.page_size = 1
    for name in ("ep-one", "ep-two", "ep-three"):
        await service.create_endpoint(
            load_endpoint(SAMPLE / "endpoint.yml", [f"name={name}"]), backend="azure"
        )
    names = [v.name for v in await service.list_endpoints(backend="azure")]
    assert sorted(names) == ["ep-one", "ep-three", "ep-two"]
    assert any("$skipToken" in r.query or "$skipToken=" in str(r.query) for r in double.arm_calls("GET"))


async def test_endpoint_view_shows_workspace_and_location(service: EndpointService) -> None:
    await service.create_endpoint(load_endpoint(SAMPLE / "endpoint.yml"), backend="azure")
    view = await service.get_endpoint("my-endpoint", backend="azure")
    assert view.location == "westeurope" and view.context == f"{SUB[:8]}…/{RG}/{WS}"
    status = await azure(service).status()
    assert status.available and status.context == f"{SUB[:8]}…/{RG}/{WS} · westeurope"


async def test_status_when_unconfigured_is_offline_without_network(home: Home) -> None:
    context = configure(home, subscription="only-this")
    backend = AzureBackend(context, credential_factory=no_credential)
    status = await backend.status()
    assert not status.available
    assert status.reason.startswith("not configured: endpointctl configure --defaults subscription=")
    with pytest.raises(BackendUnavailable, match="not configured"):
        await backend.list_endpoints()
    context.store.close()


async def test_dry_run_needs_no_credential_and_sends_nothing(home: Home, double: ArmDouble) -> None:
    context = configure(home, subscription=SUB, group=RG, workspace=WS, arm_endpoint=double.url)
    service = EndpointService(
        context, {"azure": lambda ctx: AzureBackend(ctx, credential_factory=no_credential)}
    )
    plan = await service.plan_deployment(load_deployment(SAMPLE / "blue-deployment.yml"), backend="azure")
    assert plan.output == "json" and double.requests == [] and double.blobs == {}
    *assets, put = plan.documents
    assert [_kind(a["url"]) for a in assets] == ["models", "codes", "environments"]
    assert put["method"] == "PUT" and put["url"].endswith(
        "/onlineEndpoints/my-endpoint/deployments/blue?api-version=2024-04-01"
    )
    assert validate("OnlineDeployment", put["body"]) == []
    model_id = put["body"]["properties"]["model"]
    assert assets[0]["url"].startswith(double.url + model_id)
    for doc in assets:
        kind = {"models": "ModelVersion", "codes": "CodeVersion", "environments": "EnvironmentVersion"}
        assert validate(kind[_kind(doc["url"])], doc["body"]) == []
    context.store.close()


def test_the_double_rejects_what_arm_rejects(double: ArmDouble) -> None:
    """(a): unknown keys, missing required fields, enum values, durations, types → 400 with ARM's error body."""
    token = make_token(OID, upn=UPN)
    url = f"{double.url}{double.workspace_path}/onlineEndpoints/ep-x/deployments/blue?api-version=2024-04-01"
    double.endpoints["ep-x"] = {"name": "ep-x", "properties": {"authMode": "Key"}}
    good: dict[str, Any] = {
        "location": "westeurope",
        "sku": {"name": "Default", "capacity": 1},
        "properties": {"endpointComputeType": "Managed", "instanceType": "Standard_DS3_v2"},
    }
    broken = {
        "unknown key": {**good, "colour": "blue"},
        "missing location": {k: v for k, v in good.items() if k != "location"},
        "bad enum": {**good, "properties": {**good["properties"], "egressPublicNetworkAccess": "enabled"}},
        "bad duration": {
            **good,
            "properties": {**good["properties"], "requestSettings": {"requestTimeout": 5000}},
        },
        "wrong type": {**good, "sku": {"name": "Default", "capacity": "1"}},
        "read-only": {**good, "properties": {**good["properties"], "provisioningState": "Succeeded"}},
        "bad discriminator": {
            **good,
            "properties": {**good["properties"], "endpointComputeType": "Serverless"},
        },
    }
    headers = {"Authorization": f"Bearer {token}"}
    for case, body in broken.items():
        response = httpx.put(url, json=body, headers=headers)
        assert response.status_code == 400, case
        assert response.json()["error"]["code"] == "UserError", case
        assert response.json()["error"]["details"], case
    assert httpx.put(url, json=good, headers=headers).status_code == 201
    assert httpx.put(url.replace("2024-04-01", "2023-10-01"), json=good, headers=headers).status_code == 400
    assert httpx.get(url, headers={}).status_code == 401


async def test_invalid_bodies_surface_arms_message(service: EndpointService, double: ArmDouble) -> None:
    await service.create_endpoint(load_endpoint(SAMPLE / "endpoint.yml"), backend="azure")
    arm = azure(service)._arm
    with pytest.raises(InvalidInput) as info:
        await arm.request(
            "PUT",
            arm.scope.deployment_url("my-endpoint", "blue"),
            json={"location": "x", "properties": {"endpointComputeType": "Managed", "model": 7}},
            what="put deployment my-endpoint/blue",
        )
    assert "UserError: The request body does not match OnlineDeployment." in str(info.value)
    assert "body.properties.model: expected a string" in str(info.value)


async def test_blob_signatures_are_checked(double: ArmDouble) -> None:
    from endpointctl.backends.azure.arm import Tuning
    from endpointctl.backends.azure.blob import BlobContainer, BlobUploader

    wrong = BlobContainer.of(
        ACCOUNT, CONTAINER, endpoint=double.host, protocol="http", account_key="d3Jvbmc="
    )
    async with httpx.AsyncClient() as client:
        uploader = BlobUploader(client, wrong, Tuning())
        with pytest.raises(OperationFailed, match="HTTP 403 AuthenticationFailed") as info:
            await uploader.upload_tree(SAMPLE / "sample-request.json", "LocalUpload/x")
    assert "d3Jvbmc=" not in str(info.value)
    assert double.blobs == {}


async def test_follow_logs_polls_and_prints_only_new_lines(
    service: EndpointService, double: ArmDouble
) -> None:
    await deploy_blue(service)
    double.log_growth = 2
    seen: list[str] = []
    async with asyncio.timeout(30):
        async for line in service.follow_logs("my-endpoint", "blue", backend="azure"):
            seen.append(line.text)
            if len(seen) == 4:
                break
    assert seen == [f"inference-server my-endpoint/blue line {i}" for i in (21, 22, 23, 24)]


def test_importing_the_backend_loads_no_azure_sdk() -> None:
    """Every CLI call loads every backend entry point: azure.identity must wait for the first token."""
    code = (
        "import sys, endpointctl.backends.azure.backend; "
        "print(sorted(m for m in sys.modules if m == 'azure' or m.startswith(('azure.', 'msal'))))"
    )
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
    assert "azure.identity" not in out.stderr and "endpointctl.backends.azure.backend" in out.stderr


async def test_sas_signatures_stay_out_of_logs(double: ArmDouble, caplog: pytest.LogCaptureFixture) -> None:
    from endpointctl.backends.azure.arm import Tuning
    from endpointctl.backends.azure.blob import BlobContainer, BlobUploader

    caplog.set_level(logging.DEBUG)
    sas = "sv=2023-11-03&sp=cw&sig=c2VjcmV0LXNpZ25hdHVyZQ%3D%3D"
    target = BlobContainer.of(ACCOUNT, CONTAINER, endpoint=double.host, protocol="http", sas_token=sas)
    async with httpx.AsyncClient() as client:
        uploader = BlobUploader(client, target, Tuning())
        # The double knows no SAS, so the upload is refused; what matters is what was logged on the way.
        with pytest.raises(OperationFailed, match="HTTP 403") as info:
            await uploader.upload_tree(SAMPLE / "sample-request.json", "LocalUpload/x")
    assert "HTTP Request: PUT" in caplog.text and "sig=REDACTED" in caplog.text
    assert "c2VjcmV0LXNpZ25hdHVyZQ" not in caplog.text and "c2VjcmV0LXNpZ25hdHVyZQ" not in str(info.value)


async def test_puts_answered_with_only_a_location_are_followed(
    service: EndpointService, double: ArmDouble, sleeps: Sleeps
) -> None:
    double.put_style = "location"
    double.lro_polls = 2
    double.retry_after = "4"
    async with asyncio.timeout(60):  # the double's operations advance only when polled
        await deploy_blue(service)
    assert double.arm_calls("GET", "/operationsStatus/") == []
    # Endpoint and deployment: two 202 polls each, then the end; every wait was ARM's Retry-After.
    assert len(double.arm_calls("GET", "/operationResults/")) == 6
    assert double.deployments[("my-endpoint", "blue")]["properties"]["provisioningState"] == "Succeeded"
    assert [w for w in sleeps.waits if w > 1] and all(2 < w <= 4 for w in sleeps.waits if w > 1)

    double.failing["blue"] = ("Canceled", "OperationCanceled", "superseded")
    with pytest.raises(OperationFailed, match="superseded"):
        await service.apply_deployment(
            load_deployment(SAMPLE / "blue-deployment.yml", ["environment_variables.MODE=fast"]),
            backend="azure",
        )
