"""The az ml command sequence from the docs, against the fake backend (the real ones have their own suites)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Run
from tests.conftest import SAMPLES

SAMPLE = SAMPLES / "managed" / "sample"


def test_seed_sequence(fake_cli: Run) -> None:
    cli = fake_cli
    assert cli("online-endpoint", "create", "-f", str(SAMPLE / "endpoint.yml")).code == 0
    blue = cli("online-deployment", "create", "-f", str(SAMPLE / "blue-deployment.yml"), "--all-traffic")
    assert blue.code == 0, blue.err
    state = cli("online-endpoint", "show", "-n", "my-endpoint", "-o", "tsv", "--query", "provisioning_state")
    assert state.out == "Succeeded\n"
    uri = cli("online-endpoint", "show", "-n", "my-endpoint", "-o", "tsv", "--query", "scoring_uri")
    assert uri.out.startswith("http://127.0.0.1:") and uri.out.endswith("/score\n")
    key = cli("online-endpoint", "get-credentials", "-n", "my-endpoint", "-o", "tsv", "--query", "primaryKey")
    assert len(key.out.strip()) >= 32
    invoked = cli(
        "online-endpoint",
        "invoke",
        "-n",
        "my-endpoint",
        "--request-file",
        str(SAMPLE / "sample-request.json"),
    )
    assert invoked.code == 0, invoked.err
    assert json.loads(json.loads(invoked.out))["served_by"] == "blue"
    logs = cli("online-deployment", "get-logs", "-n", "blue", "-e", "my-endpoint", "--lines", "2")
    assert logs.out == "[0] inference-server line 8\n[0] inference-server line 9\n"
    logs = cli(
        "online-deployment",
        "get-logs",
        "-n",
        "blue",
        "-e",
        "my-endpoint",
        "--container",
        "storage-initializer",
        "-l",
        "1",
    )
    assert "storage-initializer line 9" in logs.out
    updated = cli(
        "online-deployment", "update", "-n", "blue", "-e", "my-endpoint", "--set", "instance_count=2"
    )
    assert updated.code == 0, updated.err
    assert (
        cli("online-deployment", "show", "-n", "blue", "-e", "my-endpoint", "--query", "instance_count").out
        == "2\n"
    )
    assert cli("online-deployment", "create", "-f", str(SAMPLE / "green-deployment.yml")).code == 0
    split = cli(
        "online-endpoint",
        "update",
        "-n",
        "my-endpoint",
        "--traffic",
        "blue=90 green=10",
        "--query",
        "traffic",
    )
    assert split.json() == {"blue": 90, "green": 10}
    bad = cli("online-endpoint", "update", "-n", "my-endpoint", "--traffic", "blue=90 green=20")
    assert bad.code == 2 and "sum to 110" in bad.err
    refused = cli("online-deployment", "delete", "-n", "blue", "-e", "my-endpoint", "-y")
    assert refused.code == 1 and "receives 90%" in refused.err
    listed = cli("online-deployment", "list", "-e", "my-endpoint", "-o", "table")
    assert "blue" in listed.out and "green" in listed.out
    assert cli("online-endpoint", "delete", "-n", "my-endpoint", "-y").code == 0
    assert cli("online-endpoint", "list").json() == []


def test_regenerate_keys_changes_only_that_key(fake_cli: Run) -> None:
    cli = fake_cli
    cli("online-endpoint", "create", "-f", str(SAMPLE / "endpoint.yml"))
    before = cli("online-endpoint", "get-credentials", "-n", "my-endpoint").json()
    assert cli("online-endpoint", "regenerate-keys", "-n", "my-endpoint", "--key-type", "primary").code == 0
    after = cli("online-endpoint", "get-credentials", "-n", "my-endpoint").json()
    assert isinstance(before, dict) and isinstance(after, dict)
    assert after["primaryKey"] != before["primaryKey"]
    assert after["secondaryKey"] == before["secondaryKey"]


def test_aml_token_endpoint_gets_a_token(fake_cli: Run, tmp_path: Path) -> None:
    cli = fake_cli
    assert (
        cli("online-endpoint", "create", "-f", str(SAMPLE / "endpoint.yml"), "--auth-mode", "aml_token").code
        == 0
    )
    creds = cli("online-endpoint", "get-credentials", "-n", "my-endpoint").json()
    assert isinstance(creds, dict)
    assert set(creds) == {"accessToken", "tokenType", "expiryTimeUtc", "refreshAfterTimeUtc"}
    assert creds["refreshAfterTimeUtc"] < creds["expiryTimeUtc"]
    refused = cli("online-endpoint", "regenerate-keys", "-n", "my-endpoint")
    assert refused.code == 2 and "aml_token" in refused.err


def test_not_found_exits_1(fake_cli: Run) -> None:
    result = fake_cli("online-endpoint", "show", "-n", "nope")
    assert result.code == 1 and "nope" in result.err


def test_no_wait_returns_before_success(fake_cli: Run) -> None:
    cli = fake_cli
    cli("online-endpoint", "create", "-f", str(SAMPLE / "endpoint.yml"))
    result = cli(
        "online-deployment",
        "create",
        "-f",
        str(SAMPLE / "blue-deployment.yml"),
        "--no-wait",
        "--query",
        "provisioning_state",
    )
    assert result.out == '"Creating"\n'
    conflict = cli(
        "online-deployment",
        "create",
        "-f",
        str(SAMPLE / "green-deployment.yml"),
        "--no-wait",
        "--all-traffic",
    )
    assert conflict.code == 2 and "--no-wait" in conflict.err
