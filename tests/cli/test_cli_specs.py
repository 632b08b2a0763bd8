"""The CLI verbs that need no backend: show -f, model/environment registry, configure, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from endpointctl.cli import build_parser
from endpointctl.core.spec import load_deployment, load_endpoint
from tests.cli.conftest import Run
from tests.conftest import SAMPLES

SAMPLE = SAMPLES / "managed" / "sample"


def test_verbs_that_need_a_backend_are_absent_until_one_is_installed() -> None:
    without = build_parser(backends=False).format_help()
    assert "online-endpoint" in without
    sub = build_parser(backends=False)._subparsers._group_actions[0].choices["online-endpoint"]  # type: ignore[union-attr,index]
    assert "create" not in sub.format_help()
    sub = build_parser(backends=True)._subparsers._group_actions[0].choices["online-endpoint"]  # type: ignore[union-attr,index]
    assert "create" in sub.format_help() and "invoke" in sub.format_help()


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("online-endpoint", SAMPLE / "endpoint.yml"),
        ("online-deployment", SAMPLE / "blue-deployment.yml"),
        ("online-deployment", SAMPLE / "green-deployment.yml"),
        ("online-endpoint", SAMPLES / "kubernetes" / "kubernetes-endpoint.yml"),
        ("online-deployment", SAMPLES / "kubernetes" / "kubernetes-blue-deployment.yml"),
    ],
)
def test_show_file_as_yaml_round_trips(cli: Run, tmp_path: Path, kind: str, path: Path) -> None:
    result = cli(kind, "show", "-f", str(path), "-o", "yaml")
    assert result.code == 0, result.err
    again = tmp_path / path.name
    again.write_text(result.out)
    load = load_endpoint if kind == "online-endpoint" else load_deployment
    assert load(again) == load(path)
    assert yaml.safe_load(result.out)["name"] in ("my-endpoint", "blue", "green")


def test_set_overrides_several_fields_before_validation(cli: Run) -> None:
    result = cli(
        "online-deployment",
        "show",
        "-f",
        str(SAMPLE / "blue-deployment.yml"),
        "--set",
        "instance_count=3",
        "--set",
        "request_settings.request_timeout_ms=9000",
        "--set",
        "environment_variables.MODE=fast",
    )
    assert result.code == 0, result.err
    shown = result.json()
    assert isinstance(shown, dict)
    assert shown["instance_count"] == 3
    assert shown["request_settings"]["request_timeout_ms"] == 9000
    assert shown["environment_variables"] == {"MODE": "fast"}


def test_query_and_tsv(cli: Run) -> None:
    result = cli(
        "online-deployment",
        "show",
        "-f",
        str(SAMPLE / "blue-deployment.yml"),
        "--set",
        "instance_count=4",
        "--query",
        "instance_count",
        "-o",
        "tsv",
    )
    assert (result.code, result.out) == (0, "4\n")
    result = cli(
        "online-endpoint",
        "show",
        "-f",
        str(SAMPLE / "endpoint.yml"),
        "--query",
        "[name, auth_mode]",
        "-o",
        "tsv",
    )
    # As az's tsv: a top-level list is one row per item; a nested list is one tab-separated row.
    assert result.out == "my-endpoint\nkey\n"
    result = cli(
        "online-endpoint",
        "show",
        "-f",
        str(SAMPLE / "endpoint.yml"),
        "--query",
        "[[name, auth_mode]]",
        "-o",
        "tsv",
    )
    assert result.out == "my-endpoint\tkey\n"


def test_bad_query_is_a_usage_error(cli: Run) -> None:
    result = cli("online-endpoint", "show", "-f", str(SAMPLE / "endpoint.yml"), "--query", "[[[")
    assert result.code == 2
    assert "--query" in result.err


def test_invalid_file_exits_2_with_file_line_and_field(cli: Run, tmp_path: Path) -> None:
    bad = tmp_path / "blue.yml"
    bad.write_text(
        (SAMPLE / "blue-deployment.yml").read_text().replace("instance_count: 1", "instance_count: 0")
    )
    result = cli("online-deployment", "show", "-f", str(bad))
    assert result.code == 2
    assert f"{bad}:" in result.err or "blue.yml:" in result.err
    assert "instance_count" in result.err
    assert "Traceback" not in result.err


def test_missing_and_directory_files(cli: Run, tmp_path: Path) -> None:
    missing = cli("online-endpoint", "show", "-f", str(tmp_path / "nope.yml"))
    assert missing.code == 2 and "no such file" in missing.err
    directory = cli("online-endpoint", "show", "-f", str(tmp_path))
    assert directory.code == 2 and "is a directory" in directory.err


def test_model_registry_round_trip(cli: Run, tmp_path: Path) -> None:
    created = cli("model", "create", "-f", str(SAMPLE / "model.yml"))
    assert created.code == 0, created.err
    shown = created.json()
    assert isinstance(shown, dict) and shown["id"] == "azureml:my-model:1"
    # Re-registering identical content is idempotent.
    assert cli("model", "create", "-f", str(SAMPLE / "model.yml")).code == 0
    # The same version with other content is refused, naming both digests.
    other = tmp_path / "model"
    other.mkdir()
    (other / "weights.bin").write_bytes(b"different")
    conflict = cli("model", "create", "-n", "my-model", "-v", "1", "-p", str(other))
    assert conflict.code == 1
    assert conflict.err.count("sha256:") == 2
    # Without a version, the next integer is used.
    v2 = cli("model", "create", "-n", "my-model", "-p", str(other), "--query", "version", "-o", "tsv")
    assert v2.out == "2\n"
    latest = cli("model", "show", "-n", "my-model", "--query", "version", "-o", "tsv")
    assert latest.out == "2\n"
    assert cli("model", "archive", "-n", "my-model", "-v", "2").code == 0
    assert cli("model", "show", "-n", "my-model", "--query", "version", "-o", "tsv").out == "1\n"
    listed = cli("model", "list", "--include-archived", "--query", "[].version", "-o", "json").json()
    assert listed == ["1", "2"]
    missing = cli("model", "show", "-n", "my-model", "-v", "9")
    assert missing.code == 1 and "registered versions: 1, 2" in missing.err


def test_environment_registry(cli: Run) -> None:
    created = cli("environment", "create", "-f", str(SAMPLE / "environment.yml"), "-o", "json")
    assert created.code == 0, created.err
    shown = created.json()
    assert isinstance(shown, dict)
    assert shown["image"] == "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
    assert (
        Path(shown["conda_file"]).read_text()
        == (SAMPLES / "model-1" / "environment" / "conda.yaml").read_text()
    )
    table = cli("environment", "list", "-o", "table")
    assert "my-env" in table.out


def test_configure_defaults(cli: Run) -> None:
    assert cli("configure", "--defaults", "workspace=ws1", "group=rg1").code == 0
    listed = cli("configure", "-l").json()
    assert listed == [{"name": "group", "value": "rg1"}, {"name": "workspace", "value": "ws1"}]
    bad = cli("configure", "--defaults", "colour=red")
    assert bad.code == 2 and "unknown key" in bad.err
    assert cli("configure", "--defaults", "workspace=").code == 0
    assert cli("configure", "-l").json() == [{"name": "group", "value": "rg1"}]


def test_no_arguments_prints_help(cli: Run) -> None:
    result = cli()
    assert result.code == 0 and "online-endpoint" in result.out
