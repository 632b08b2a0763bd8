"""The seed's `az ml` command sequence, with `endpointctl` in its place, against processes and containers."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.backends.scenarios.conftest import LocalTarget
from tests.conftest import SAMPLES, Result, Run

SAMPLE = SAMPLES / "managed" / "sample"
REQUEST = str(SAMPLE / "sample-request.json")


def _ok(result: Result) -> None:
    assert result.code == 0, result.err


def test_seed_sequence(cli: Run, target: LocalTarget) -> None:
    _ok(cli("configure", "--defaults", f"backend={target.name}"))
    _ok(cli("online-endpoint", "create", "-f", str(SAMPLE / "endpoint.yml")))
    _ok(cli("online-deployment", "create", "-f", str(SAMPLE / "blue-deployment.yml"), "--all-traffic"))

    shown = cli("online-endpoint", "show", "-n", "my-endpoint", "-o", "json")
    endpoint = shown.json()
    assert isinstance(endpoint, dict)
    assert endpoint["provisioning_state"] == "Succeeded" and endpoint["traffic"] == {"blue": 100}
    state = cli(
        "online-deployment",
        "show",
        "-n",
        "blue",
        "-e",
        "my-endpoint",
        "-o",
        "tsv",
        "--query",
        "provisioning_state",
    )
    assert state.out == "Succeeded\n"
    scoring_uri = cli(
        "online-endpoint", "show", "-n", "my-endpoint", "-o", "tsv", "--query", "scoring_uri"
    ).out.strip()
    assert scoring_uri.startswith("http://127.0.0.1:") and scoring_uri.endswith("/score")

    invoked = cli("online-endpoint", "invoke", "-n", "my-endpoint", "--request-file", REQUEST)
    _ok(invoked)
    blue_answer = json.loads(json.loads(invoked.out))
    assert len(blue_answer) == 2

    # curl with the key, as the docs do
    key = cli(
        "online-endpoint", "get-credentials", "-n", "my-endpoint", "-o", "tsv", "--query", "primaryKey"
    ).out.strip()
    response = httpx.post(
        scoring_uri,
        content=Path(REQUEST).read_bytes(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200 and response.json() == blue_answer
    assert response.headers["azureml-model-deployment"] == "blue"
    assert httpx.post(scoring_uri, content=b"{}", headers={"Authorization": "Bearer nope"}).status_code == 401

    logs = cli("online-deployment", "get-logs", "-n", "blue", "-e", "my-endpoint", "--lines", "50")
    _ok(logs)
    assert "POST /score 200" in logs.out
    init_logs = cli(
        "online-deployment",
        "get-logs",
        "-n",
        "blue",
        "-e",
        "my-endpoint",
        "--container",
        "storage-initializer",
    )
    assert "storage initialised" in init_logs.out

    # registered assets, then a deployment from azureml: references
    _ok(cli("model", "create", "-n", "my-model", "-v", "1", "-f", str(SAMPLE / "model.yml")))
    _ok(cli("environment", "create", "-f", str(SAMPLE / "environment.yml")))
    _ok(cli("online-deployment", "update", "-f", str(SAMPLE / "blue-deployment-with-registered-assets.yml")))
    assert cli("online-endpoint", "invoke", "-n", "my-endpoint", "--request-file", REQUEST).out == invoked.out

    # update with --set: a rolling update to 2 instances with a new environment variable
    _ok(cli("online-deployment", "update", "-n", "blue", "-e", "my-endpoint", "--set", "instance_count=2"))
    count = cli(
        "online-deployment",
        "show",
        "-n",
        "blue",
        "-e",
        "my-endpoint",
        "-o",
        "tsv",
        "--query",
        "instance_count",
    )
    assert count.out == "2\n"

    # green with 10%, then 100%
    _ok(cli("online-deployment", "create", "-f", str(SAMPLE / "green-deployment.yml")))
    _ok(cli("online-endpoint", "update", "-n", "my-endpoint", "--traffic", "blue=90 green=10"))
    with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        served = [
            client.post(scoring_uri, content=Path(REQUEST).read_bytes()).headers["azureml-model-deployment"]
            for _ in range(200)
        ]
    # Weighted round robin: 20 of 200 exactly when nothing else routes in between; allow for slack.
    assert 10 <= served.count("green") <= 30 and served.count("blue") + served.count("green") == 200
    green = cli("online-endpoint", "invoke", "-n", "my-endpoint", "-d", "green", "--request-file", REQUEST)
    assert json.loads(json.loads(green.out)) != blue_answer
    _ok(cli("online-endpoint", "update", "-n", "my-endpoint", "--traffic", "blue=0 green=100"))
    assert cli("online-endpoint", "invoke", "-n", "my-endpoint", "--request-file", REQUEST).out == green.out

    # a deployment with live traffic cannot be deleted; with none, it can
    refused = cli("online-deployment", "delete", "-n", "green", "-e", "my-endpoint", "-y")
    assert refused.code != 0 and "traffic" in refused.err
    _ok(cli("online-deployment", "delete", "-n", "blue", "-e", "my-endpoint", "-y"))

    _ok(cli("online-endpoint", "delete", "-n", "my-endpoint", "-y"))
    assert cli("online-endpoint", "show", "-n", "my-endpoint").code == 1
    assert target.leftovers() == []
    with pytest.raises(httpx.ConnectError):
        httpx.get(scoring_uri.removesuffix("/score") + "/")
