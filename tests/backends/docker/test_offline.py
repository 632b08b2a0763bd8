"""Docker-backend logic that needs no engine: limits, pip settings for containers, the stage script's digest,
and the "no engine" error."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from endpointctl.backends.common.environments.conda import parse_conda
from endpointctl.backends.docker.resources import GIB, limits_for, quantity
from endpointctl.backends.engine.builder import environment_digest
from endpointctl.backends.engine.client import connect
from endpointctl.backends.engine.pipconf import HOST_PREFIX, container_pip_config
from endpointctl.core.digest import tree_digest
from endpointctl.core.errors import BackendUnavailable
from endpointctl.core.spec import DeploymentSpec


def _spec(**fields: object) -> DeploymentSpec:
    return DeploymentSpec.model_validate({"name": "blue", "endpoint_name": "my-endpoint", **fields})


def test_unreachable_engine_is_backend_unavailable(tmp_path: Path) -> None:
    socket = tmp_path / "nothing.sock"
    with pytest.raises(BackendUnavailable) as caught:
        connect({"DOCKER_HOST": f"unix://{socket}"})
    assert str(caught.value).startswith(f"docker: no engine at unix://{socket}: ")
    assert "No such file" in str(caught.value) or "not found" in str(caught.value).lower()


@pytest.mark.parametrize(
    ("text", "value"),
    [("500m", 0.5), ("2", 2), ("1Gi", GIB), ("512Mi", 512 << 20), ("1G", 1e9), ("1.5", 1.5), ("100k", 1e5)],
)
def test_quantity(text: str, value: float) -> None:
    assert quantity(text) == pytest.approx(value)


def test_instance_type_table_clamps_cpus_to_the_host() -> None:
    limits = limits_for(_spec(instance_type="Standard_DS3_v2"), host_cpus=2)
    assert limits.nano_cpus == 2_000_000_000
    assert limits.memory_bytes == 14 * GIB
    assert limits.gpus == 0
    assert any("4 CPUs asked for" in note for note in limits.notes)
    roomy = limits_for(_spec(instance_type="standard_ds3_v2"), host_cpus=8)
    assert (roomy.nano_cpus, roomy.notes) == (4_000_000_000, ())


def test_gpu_instance_type_and_unknown_type() -> None:
    assert limits_for(_spec(instance_type="Standard_NC6s_v3"), host_cpus=64).gpus == 1
    unknown = limits_for(_spec(instance_type="Standard_Weird"), host_cpus=2)
    assert (unknown.nano_cpus, unknown.memory_bytes) == (None, None)
    assert "Standard_Weird" in unknown.notes[0]


def test_kubernetes_resources_prefer_limits_over_requests() -> None:
    spec = _spec(
        type="kubernetes",
        instance_type="defaultinstancetype",
        resources={
            "requests": {"cpu": "250m", "memory": "256Mi"},
            "limits": {"cpu": "1500m", "memory": "1Gi", "nvidia.com/gpu": "1"},
        },
    )
    limits = limits_for(spec, host_cpus=2)
    assert (limits.nano_cpus, limits.memory_bytes, limits.gpus) == (1_500_000_000, GIB, 1)
    only_requests = _spec(type="kubernetes", resources={"requests": {"cpu": "250m", "memory": "256Mi"}})
    limits = limits_for(only_requests, host_cpus=2)
    assert (limits.nano_cpus, limits.memory_bytes) == (250_000_000, 256 << 20)


def test_container_pip_config_mounts_local_paths_under_the_prefix(tmp_path: Path) -> None:
    index = tmp_path / "mirror" / "simple"
    index.mkdir(parents=True)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    cert = tmp_path / "ca.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    conf = tmp_path / "pip.conf"
    conf.write_text(
        "[global]\n"
        f"extra-index-url = file://{index} https://mirror.example/simple\n"
        f"find-links = {wheels}\n"
        f"cert = {cert}\n"
        "constraint = /does/not/exist.txt\n"
    )
    result = container_pip_config({"PIP_CONFIG_FILE": str(conf), "HOME": str(tmp_path)})
    # The index is mounted with its parent so its ../../files links resolve.
    assert result.mounts == {
        str(index.parent): HOST_PREFIX + str(index.parent),
        str(wheels): HOST_PREFIX + str(wheels),
        str(cert): HOST_PREFIX + str(cert),
    }
    assert f"file://{HOST_PREFIX}{index}" in result.text
    assert "https://mirror.example/simple" in result.text
    assert result.cert == HOST_PREFIX + str(cert)
    assert "constraint" not in result.text  # a file that is not there cannot be mounted


def _stage_script() -> ModuleType:
    path = Path(__file__).parents[3] / "endpointctl" / "backends" / "docker" / "stage_script.py"
    spec = importlib.util.spec_from_file_location("stage_script_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stage_script_digest_agrees_with_core(tmp_path: Path) -> None:
    script = _stage_script()
    (tmp_path / "m" / "sub").mkdir(parents=True)
    (tmp_path / "m" / "a.bin").write_bytes(b"\x00\x01" * 1000)
    (tmp_path / "m" / "sub" / "b.txt").write_text("hello")
    assert script.tree_digest(tmp_path / "m") == tree_digest(tmp_path / "m")
    single = tmp_path / "m" / "a.bin"
    assert script.tree_digest(single) == tree_digest(single)
    # A single file staged under a temporary name still hashes under its final one.
    renamed = tmp_path / ".a.bin.partial"
    renamed.write_bytes(single.read_bytes())
    assert script.tree_digest_as(renamed, "a.bin") == tree_digest(single)


def test_environment_digest_changes_with_requirements_and_base() -> None:
    one = parse_conda("dependencies: [numpy=2.3.1]", source="a")
    same = parse_conda("dependencies: [numpy=2.3.1]", source="b")
    other = parse_conda("dependencies: [numpy=2.3.2]", source="a")
    assert environment_digest(one, "base:1", "sha256:x") == environment_digest(same, "base:1", "sha256:x")
    assert environment_digest(one, "base:1", "sha256:x") != environment_digest(other, "base:1", "sha256:x")
    assert environment_digest(one, "base:1", "sha256:x") != environment_digest(one, "base:1", "sha256:y")
