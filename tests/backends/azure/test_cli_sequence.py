"""The seed's cloud sequence, end to end through the CLI, against the ARM double.

The backend is the installed `azure` entry point, built by the CLI from `configure --defaults` (the
workspace and the ARM base URL, which points at the double) with production timing; only
DefaultAzureCredential is replaced, by a credential that hands out tokens the double accepts. The double
answers Retry-After: 0 so the long-running operations are followed as in Azure, without the waits.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

import endpointctl.backends.azure.backend
import endpointctl.cli.commands
import endpointctl.core.service
from endpointctl.backends.azure.backend import PLAN_CONTAINER_URL, PLAN_DATASTORE, AzureBackend
from endpointctl.core.service import ENTRY_POINT_GROUP
from tests.backends.azure.conftest import OID, UPN, FakeCredential
from tests.backends.azure.double import (
    ACCOUNT,
    CONTAINER,
    DATASTORE,
    LOCATION,
    RG,
    SUB,
    WS,
    ArmDouble,
    make_token,
)
from tests.backends.azure.schema import validate
from tests.cli.conftest import Result, Run
from tests.conftest import REPO, SAMPLES

SAMPLE = SAMPLES / "managed" / "sample"
ENDPOINT_YML = str(SAMPLE / "endpoint.yml")
BLUE_YML = str(SAMPLE / "blue-deployment.yml")
GREEN_YML = str(SAMPLE / "green-deployment.yml")
REQUEST = str(SAMPLE / "sample-request.json")
AZ = ("--backend", "azure")
VERSION_MODELS = {"models": "ModelVersion", "codes": "CodeVersion", "environments": "EnvironmentVersion"}


@pytest.fixture
def arm() -> Iterator[ArmDouble]:
    d = ArmDouble(authorized_oids={OID}, retry_after="0").start()
    yield d
    d.stop()


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> list[FakeCredential]:
    """Every credential the backend created (it must create one only when it talks to ARM)."""
    created: list[FakeCredential] = []

    def default_credential() -> FakeCredential:
        credential = FakeCredential(make_token(OID, upn=UPN))
        created.append(credential)
        return credential

    monkeypatch.setattr(endpointctl.backends.azure.backend, "default_credential", default_credential)
    return created


@pytest.fixture
def az(cli: Run, arm: ArmDouble, credentials: list[FakeCredential], monkeypatch: pytest.MonkeyPatch) -> Run:
    # The azure entry point as installed; the other backends are left out, so this test does not depend
    # on them (the CLI loads every backend it discovers).
    (entry,) = entry_points(group=ENTRY_POINT_GROUP, name="azure")
    factory = entry.load()
    assert factory is AzureBackend
    monkeypatch.setattr(endpointctl.core.service, "discover_factories", lambda: {"azure": factory})
    monkeypatch.setattr(endpointctl.cli.commands, "discover_factories", lambda: {"azure": factory})
    workspace = [f"subscription={SUB}", f"group={RG}", f"workspace={WS}", f"arm_endpoint={arm.url}"]
    assert cli("configure", "--defaults", *workspace).code == 0
    return cli


def ok(result: Result) -> Result:
    assert result.code == 0, result.err
    return result


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _uploaded(arm: ArmDouble, root: str) -> dict[str, bytes]:
    """The blobs below `root` (a folder in the datastore's container), by their path inside it."""
    return {k.removeprefix(root + "/"): v for k, v in arm.blobs.items() if k.startswith(root + "/")}


def _roots(arm: ArmDouble, props: dict[str, Any]) -> tuple[str, str]:
    """Where a deployment's model and code were uploaded, from their registered versions' URIs."""
    model = _asset(arm, props["model"])["properties"]["modelUri"]
    code = _asset(arm, props["codeConfiguration"]["codeId"])["properties"]["codeUri"]
    prefix = (
        f"azureml://subscriptions/{SUB}/resourcegroups/{RG}/workspaces/{WS}/datastores/{DATASTORE}/paths/"
    )
    assert model.startswith(prefix) and code.startswith(f"{arm.url}/{ACCOUNT}/{CONTAINER}/")
    return model.removeprefix(prefix), code.removeprefix(f"{arm.url}/{ACCOUNT}/{CONTAINER}/")


def _asset(arm: ArmDouble, asset_id: str) -> dict[str, Any]:
    kind, name, _, version = asset_id.removeprefix(arm.workspace_path + "/").split("/")
    return arm.assets[(kind, name, version)]


def test_seed_cloud_sequence_through_the_cli(
    az: Run, arm: ArmDouble, credentials: list[FakeCredential]
) -> None:
    outputs: list[Result] = []

    def run(*args: str) -> Result:
        result = ok(az(*args, *AZ))
        outputs.append(result)
        return result

    arm.throttle = 1  # ARM throttles the very first call: retried after Retry-After, unnoticed

    # --- online-endpoint create -f endpoint.yml --------------------------------------------------
    created = run("online-endpoint", "create", "-f", ENDPOINT_YML).json()
    assert isinstance(created, dict)
    assert created["name"] == "my-endpoint" and created["provisioning_state"] == "Succeeded"
    assert created["location"] == LOCATION  # the workspace's region, read from ARM
    (put,) = arm.arm_calls("PUT", "/onlineEndpoints/my-endpoint")
    assert put.body == {
        "location": LOCATION,
        "kind": "Managed",
        "properties": {"authMode": "Key", "traffic": {}, "mirrorTraffic": {}},
    }
    assert arm.arm_calls("GET", "/operationsStatus/")  # the PUT's Azure-AsyncOperation was followed

    # --- online-deployment create -f blue-deployment.yml --all-traffic (local model and code) -----
    blue = run("online-deployment", "create", "-f", BLUE_YML, "--all-traffic").json()
    assert isinstance(blue, dict) and blue["provisioning_state"] == "Succeeded"
    model_dir = REPO / "assets/samples/endpoints/online/model-1/model"
    code_dir = REPO / "assets/samples/endpoints/online/model-1/onlinescoring"
    # Every file of both folders is in the default datastore's container, byte for byte, where the
    # registered versions say.
    props = arm.deployments[("my-endpoint", "blue")]["properties"]
    model_root, code_root = _roots(arm, props)
    assert model_root.startswith("LocalUpload/") and model_root.endswith("/model")
    assert _uploaded(arm, model_root) == _files(model_dir) != {}
    assert _uploaded(arm, code_root) == _files(code_dir) != {}
    env = _asset(arm, props["environmentId"])["properties"]
    assert env["image"] == "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
    assert (
        env["condaFile"]
        == (REPO / "assets/samples/endpoints/online/model-1/environment/conda.yaml").read_text()
    )
    assert props["codeConfiguration"]["scoringScript"] == "score.py"
    assert arm.endpoints["my-endpoint"]["properties"]["traffic"] == {"blue": 100}

    # --- show ---------------------------------------------------------------------------------------
    shown = run("online-endpoint", "show", "-n", "my-endpoint").json()
    assert isinstance(shown, dict)
    assert shown["traffic"] == {"blue": 100} and shown["provisioning_state"] == "Succeeded"
    assert shown["scoring_uri"] == f"{arm.url}/endpoints/my-endpoint/score"
    uri = run("online-endpoint", "show", "-n", "my-endpoint", "-o", "tsv", "--query", "scoring_uri")
    assert uri.out == f"{arm.url}/endpoints/my-endpoint/score\n"
    dep = run("online-deployment", "show", "-n", "blue", "-e", "my-endpoint").json()
    assert isinstance(dep, dict)
    model_name = props["model"].split("/models/")[1].split("/")[0]
    assert dep["model"] == f"azureml:{model_name}:1"
    assert dep["instance_count"] == 1 and dep["instance_type"] == "Standard_DS3_v2"

    # --- invoke --request-file (the key comes from listKeys; the double's router checks it) --------
    invoked = run("online-endpoint", "invoke", "-n", "my-endpoint", "--request-file", REQUEST)
    answer = json.loads(json.loads(invoked.out))
    assert answer == {"deployment": "blue", "received": json.loads(Path(REQUEST).read_text())}
    assert arm.arm_calls("POST", "/listKeys") and arm.served == ["blue"]

    # --- get-logs, both containers ------------------------------------------------------------------
    logs = run("online-deployment", "get-logs", "-n", "blue", "-e", "my-endpoint", "--lines", "3")
    assert logs.out.splitlines() == [f"inference-server my-endpoint/blue line {i}" for i in (18, 19, 20)]
    init = run(
        "online-deployment",
        "get-logs",
        "-n",
        "blue",
        "-e",
        "my-endpoint",
        "--container",
        "storage-initializer",
    )
    assert init.out.splitlines() == [f"storage-initializer my-endpoint/blue line {i}" for i in range(1, 21)]
    assert [c.body["containerType"] for c in arm.arm_calls("POST", "/getLogs")] == [
        "InferenceServer",
        "StorageInitializer",
    ]
    assert arm.arm_calls("POST", "/getLogs")[0].body["tail"] == 3

    # --- update --set instance_count=2: a PATCH of the sku, followed through its Location ------------
    deployment_puts = len(arm.arm_calls("PUT", "/deployments/blue"))
    scaled = run(
        "online-deployment", "update", "-n", "blue", "-e", "my-endpoint", "--set", "instance_count=2"
    )
    assert scaled.json()["instance_count"] == 2  # type: ignore[index]
    assert [c.body for c in arm.arm_calls("PATCH")] == [{"sku": {"capacity": 2}}]
    assert len(arm.arm_calls("PUT", "/deployments/blue")) == deployment_puts
    assert arm.arm_calls("GET", "/operationResults/")
    assert arm.deployments[("my-endpoint", "blue")]["sku"]["capacity"] == 2
    again = run("online-deployment", "show", "-n", "blue", "-e", "my-endpoint", "--query", "instance_count")
    assert again.out == "2\n"

    # --- green, then traffic 90/10 ------------------------------------------------------------------
    green = run("online-deployment", "create", "-f", GREEN_YML).json()
    assert isinstance(green, dict) and green["provisioning_state"] == "Succeeded"
    green_props = arm.deployments[("my-endpoint", "green")]["properties"]
    assert green_props["model"] != props["model"]  # model-2's folder is also called model: a new asset
    green_model, green_code = _roots(arm, green_props)
    assert _uploaded(arm, green_model) == _files(model_dir.parent.parent / "model-2/model") != {}
    assert _uploaded(arm, green_code) == _files(code_dir.parent.parent / "model-2/onlinescoring") != {}
    assert _uploaded(arm, model_root) == _files(model_dir)  # blue's files are untouched
    assert arm.endpoints["my-endpoint"]["properties"]["traffic"] == {"blue": 100}  # a new one gets 0
    split = run("online-endpoint", "update", "-n", "my-endpoint", "--traffic", "blue=90 green=10").json()
    assert isinstance(split, dict) and split["traffic"] == {"blue": 90, "green": 10}
    assert arm.endpoints["my-endpoint"]["properties"]["traffic"] == {"blue": 90, "green": 10}
    pinned = run("online-endpoint", "invoke", "-n", "my-endpoint", "-d", "green", "--request-file", REQUEST)
    assert json.loads(json.loads(pinned.out))["deployment"] == "green" and arm.served[-1] == "green"

    # --- delete -------------------------------------------------------------------------------------
    run("online-endpoint", "delete", "-n", "my-endpoint", "-y")
    assert arm.endpoints == {} and arm.deployments == {}  # followed to the end: ARM finished it
    assert run("online-endpoint", "list").json() == []

    # Every ARM call was authorised by the credential, which was asked for ARM's audience only; no
    # secret (the bearer token, the endpoint keys, the storage account key) reached the terminal.
    assert all(c.headers["authorization"].startswith("Bearer ") for c in arm.arm_calls())
    assert credentials and {scope for c in credentials for scopes in c.scopes for scope in scopes} == {
        f"{arm.url}/.default"
    }
    printed = "".join(r.out + r.err for r in outputs)
    for secret in (credentials[0].token, arm.account_key, *arm.keys["my-endpoint"]):
        assert secret not in printed


def test_dry_run_prints_the_arm_requests_and_sends_none(
    az: Run, arm: ArmDouble, credentials: list[FakeCredential]
) -> None:
    ok(az("configure", "--defaults", f"location={LOCATION}"))
    endpoint_plan = ok(
        az("online-endpoint", "create", "-f", ENDPOINT_YML, *AZ, "--dry-run", "-o", "json")
    ).json()
    plan = ok(az("online-deployment", "create", "-f", BLUE_YML, *AZ, "--dry-run", "-o", "json"))
    requests = plan.json()
    assert isinstance(requests, list) and isinstance(endpoint_plan, list)

    # Nothing reached ARM or the blob store, and no credential was even created.
    assert arm.requests == [] and arm.blobs == {} and credentials == []

    base = f"{arm.url}{arm.workspace_path}"
    for doc in [*endpoint_plan, *requests]:
        assert set(doc) == {"method", "url", "body"} and doc["method"] == "PUT"
        assert doc["url"].startswith(base + "/") and doc["url"].endswith("?api-version=2024-04-01")
    (endpoint_put,) = endpoint_plan
    assert endpoint_put["url"] == f"{base}/onlineEndpoints/my-endpoint?api-version=2024-04-01"
    assert validate("OnlineEndpoint", endpoint_put["body"]) == []

    *assets, deployment = requests
    assert deployment["url"] == f"{base}/onlineEndpoints/my-endpoint/deployments/blue?api-version=2024-04-01"
    assert validate("OnlineDeployment", deployment["body"]) == []
    props = deployment["body"]["properties"]
    ids = [props["model"], props["codeConfiguration"]["codeId"], props["environmentId"]]
    # The local folders appear as the ARM ids they would be registered under, each registered by a PUT
    # listed before the deployment's; no local path is printed.
    assert [a["url"].removeprefix(arm.url).split("?")[0] for a in assets] == ids
    assert all(i.startswith(f"{arm.workspace_path}/") and i.endswith("/versions/1") for i in ids)
    for doc in assets:
        kind = doc["url"].removeprefix(base + "/").split("/")[0]
        assert validate(VERSION_MODELS[kind], doc["body"]) == []
    assert str(REPO) not in plan.out and "../../model-1" not in plan.out

    # What was printed is what is sent: the same requests reach ARM when it is applied, the upload
    # locations' placeholders filled in with the workspace's default datastore.
    ok(az("online-endpoint", "create", "-f", ENDPOINT_YML, *AZ))
    ok(az("online-deployment", "create", "-f", BLUE_YML, *AZ))
    assert len(credentials) == 2  # one per CLI call that talked to ARM
    (sent_endpoint,) = [c for c in arm.arm_calls("PUT") if c.path.endswith("/onlineEndpoints/my-endpoint")]
    assert sent_endpoint.body == endpoint_put["body"]
    (sent_deployment,) = arm.arm_calls("PUT", "/deployments/blue")
    assert sent_deployment.body == deployment["body"]
    planned = json.dumps([a["body"] for a in assets])
    planned = planned.replace(PLAN_DATASTORE, DATASTORE).replace(
        PLAN_CONTAINER_URL, f"{arm.url}/{ACCOUNT}/{CONTAINER}"
    )
    sent_assets = arm.arm_calls("PUT", "/versions/")
    assert [c.path for c in sent_assets] == [a["url"].removeprefix(arm.url).split("?")[0] for a in assets]
    assert [c.body for c in sent_assets] == json.loads(planned)


def test_a_failed_deployment_reports_arms_error(az: Run, arm: ArmDouble) -> None:
    ok(az("online-endpoint", "create", "-f", ENDPOINT_YML, *AZ))
    arm.failing["blue"] = ("Failed", "ImageBuildFailure", "conda could not solve the environment")
    result = az("online-deployment", "create", "-f", BLUE_YML, *AZ)
    assert result.code == 1
    assert "ImageBuildFailure: conda could not solve the environment" in result.err
    shown = ok(az("online-deployment", "show", "-n", "blue", "-e", "my-endpoint", *AZ)).json()
    assert isinstance(shown, dict) and shown["provisioning_state"] == "Failed"


def test_a_missing_role_names_the_identity_and_the_action(
    az: Run, arm: ArmDouble, credentials: list[FakeCredential]
) -> None:
    arm.authorized_oids.clear()  # the identity signs in, but holds no role on the workspace
    result = az("online-endpoint", "list", *AZ)
    assert result.code == 1
    assert f"user {UPN}" in result.err and f"object id {OID}" in result.err
    assert "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/read" in result.err
    assert "AuthorizationFailed" in result.err and credentials[0].token not in result.err


def test_a_rejected_credential_names_the_identity(
    az: Run, arm: ArmDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    forged = FakeCredential(make_token(OID, upn=UPN, secret=b"not the tenant's signing key"))
    monkeypatch.setattr(endpointctl.backends.azure.backend, "default_credential", lambda: forged)
    result = az("online-endpoint", "create", "-f", ENDPOINT_YML, *AZ)
    assert result.code == 1
    assert f"ARM rejected the credential of user {UPN}, object id {OID}" in result.err
    assert "InvalidAuthenticationToken" in result.err and "az login" in result.err
    assert forged.token not in result.err and arm.endpoints == {}


def test_unconfigured_azure_says_how_to_configure(cli: Run) -> None:
    result = cli("online-endpoint", "list", "--backend", "azure")
    assert result.code == 1
    assert "not configured: endpointctl configure --defaults subscription=" in result.err
