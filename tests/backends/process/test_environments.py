"""Real uv builds. Small ones use a per-test cache; the model-1 sample shares one across runs."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from endpointctl.backends.common.environments.conda import PythonRequirements, parse_conda_file
from endpointctl.backends.common.environments.scoring_host import host_marker
from endpointctl.backends.local.ports import free_port
from endpointctl.backends.process import environments
from endpointctl.backends.process.environments import (
    BuiltEnvironment,
    EnvironmentBuilder,
    EnvironmentBuildError,
)
from endpointctl.backends.process.storage import stage_app
from endpointctl.core.assets.sources import CodeSource, ModelSource
from endpointctl.core.digest import tree_digest
from tests.conftest import SAMPLES

pytestmark = pytest.mark.slow

RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"
SHARED_CACHE = Path(
    os.environ.get("ENDPOINTCTL_TEST_ENV_CACHE", Path.home() / ".cache" / "endpointctl-tests" / "envs")
)


def _probe(env: BuiltEnvironment, code: str, cwd: Path) -> str:
    """Run code in the environment's interpreter, away from the repository so it cannot leak in."""
    clean = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    done = subprocess.run(
        [str(env.python), "-c", code], cwd=cwd, env=clean, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


async def test_builds_a_venv_with_the_scoring_host_but_not_the_control_plane(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    req = PythonRequirements("test.yml", None, ("six", "azureml-inference-server-http==1.4.1"))
    env = await EnvironmentBuilder(tmp_path / "envs").ensure(req, log=log)
    assert not env.reused and env.python_version == RUNNING and env.warnings == ()
    assert env.root.parent == tmp_path / "envs" and env.python.is_file()
    found = _probe(
        env,
        "import importlib.util as u, six, endpointctl.serving.scoring, uvicorn, httptools, uvloop, werkzeug;"
        "print(u.find_spec('endpointctl.core'), u.find_spec('azureml_inference_server_http'), u.find_spec('flask'))",
        tmp_path,
    )
    assert found == "None None None"
    assert any("azureml-inference-server-http==1.4.1 is not installed" in note for note in env.notes)
    assert "six" in log.read_text()
    assert [p.name for p in (tmp_path / "envs").iterdir() if p.name.startswith(".building")] == []


async def test_second_ensure_is_a_no_op_returning_the_same_environment(tmp_path: Path) -> None:
    builder = EnvironmentBuilder(tmp_path / "envs")
    req = PythonRequirements("test.yml", None, ("six",))
    first = await builder.ensure(req, log=tmp_path / "a.log")
    marker_mtime = (first.root / "endpointctl-env.json").stat().st_mtime_ns
    second = await builder.ensure(PythonRequirements("other.yml", None, ("six",)), log=tmp_path / "b.log")
    assert (second.root, second.key, second.reused) == (first.root, first.key, True)
    assert (first.root / "endpointctl-env.json").stat().st_mtime_ns == marker_mtime
    assert "nothing to build" in (tmp_path / "b.log").read_text()
    assert "uv" not in (tmp_path / "b.log").read_text().replace(str(tmp_path), "")


async def test_concurrent_ensures_of_one_digest_build_once(tmp_path: Path) -> None:
    builder = EnvironmentBuilder(tmp_path / "envs")
    req = PythonRequirements("test.yml", None, ("six",))
    logs = [tmp_path / f"{i}.log" for i in range(3)]
    built = await asyncio.gather(*(builder.ensure(req, log=log) for log in logs))
    assert len({env.root for env in built}) == 1
    assert sorted(env.reused for env in built) == [False, True, True]
    venv_commands = sum(log.read_text().count(" venv ") for log in logs)
    assert venv_commands == 1


async def test_failed_build_leaves_no_environment_and_keeps_the_log(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    req = PythonRequirements("test.yml", None, ("endpointctl-test-no-such-package-3c9f==1.0",))
    with pytest.raises(EnvironmentBuildError, match=re.escape(str(log))):
        await EnvironmentBuilder(tmp_path / "envs").ensure(req, log=log)
    assert [p for p in (tmp_path / "envs").iterdir() if not p.name.endswith(".lock")] == []
    text = log.read_text()
    assert "endpointctl-test-no-such-package-3c9f" in text and "build failed" in text


async def test_an_unusable_cache_is_named_not_an_internal_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    req = PythonRequirements("test.yml", None, ())
    with pytest.raises(EnvironmentBuildError, match="ENDPOINTCTL_ENV_CACHE") as caught:
        await EnvironmentBuilder(tmp_path / "a-file" / "envs").ensure(req, log=tmp_path / "build.log")
    assert f"the environment cache {tmp_path / 'a-file' / 'envs'} is not a writable folder" in str(
        caught.value
    )


async def test_missing_python_falls_back_to_the_running_interpreter_with_a_warning(tmp_path: Path) -> None:
    req = PythonRequirements("test.yml", "3.99", ("six",))
    env = await EnvironmentBuilder(tmp_path / "envs").ensure(req, log=tmp_path / "build.log")
    assert env.python_version == RUNNING
    assert len(env.warnings) == 1 and "3.99" in env.warnings[0] and RUNNING in env.warnings[0]
    assert _probe(env, "import sys; print(sys.version_info[:2])", tmp_path) == str(sys.version_info[:2])
    assert env.warnings[0] in (tmp_path / "build.log").read_text()


def test_pip_index_configuration_is_translated_for_uv(tmp_path: Path) -> None:
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("torch<=2\n")
    conf = tmp_path / "pip.conf"
    conf.write_text(
        "[global]\nindex-url = https://mirror.example/simple\nextra-index-url = file:///a file:///b\n"
        f"constraint = {constraints}\n[install]\nfind-links = /wheels\n"
    )
    env = {"PIP_CONFIG_FILE": str(conf), "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    assert environments._index_arguments(env) == [
        "--index-url", "https://mirror.example/simple",
        "--extra-index-url", "file:///a", "--extra-index-url", "file:///b",
        "--find-links", "/wheels",
        "--constraint", str(constraints),
        "--index-strategy", "unsafe-best-match",
    ]  # fmt: skip
    assert environments._index_arguments({**env, "PIP_FIND_LINKS": "/other"})[6:8] == [
        "--find-links",
        "/other",
    ]
    # uv configured explicitly: its own settings win and nothing is added.
    assert environments._index_arguments({**env, "UV_INDEX_URL": "https://uv.example/simple"}) == []


def test_editing_the_scoring_host_changes_the_cache_key(tmp_path: Path) -> None:
    host = tmp_path / "serving"
    (host / "scoring" / "__pycache__").mkdir(parents=True)
    (host / "__init__.py").write_text("")
    (host / "limits.py").write_text("B = 1\n")
    (host / "storage.py").write_text("C = 1\n")
    (host / "scoring" / "__init__.py").write_text("A = 1\n")
    before = host_marker(host)
    (host / "scoring" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"bytecode")
    assert host_marker(host) == before
    (host / "scoring" / "__init__.py").write_text("A = 2\n")
    edited = host_marker(host)
    assert edited != before
    # The wire limits the host shares with the gateway are part of it too.
    (host / "limits.py").write_text("B = 2\n")
    assert host_marker(host) != edited


# --- the documented sample, end to end ------------------------------------------------------------


@pytest.fixture
def scoring_host(tmp_path: Path) -> Iterator[tuple[str, BuiltEnvironment, Path]]:
    model_1 = SAMPLES / "model-1"
    requirements = parse_conda_file(model_1 / "environment" / "conda.yaml")
    env = asyncio.run(EnvironmentBuilder(SHARED_CACHE).ensure(requirements, log=tmp_path / "build.log"))
    staged = stage_app(
        tmp_path / "app",
        model=ModelSource(model_1 / "model", "model-1", "1", tree_digest(model_1 / "model")),
        code=CodeSource(model_1 / "onlinescoring", "score.py"),
        log=tmp_path / "storage-initializer.log",
    )
    port = free_port()
    process_env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    process_env.update(staged.env)
    server_log = tmp_path / "inference-server.log"
    with server_log.open("wb") as out:
        process = subprocess.Popen(
            [str(env.python), "-m", "endpointctl.serving.scoring", "--port", str(port)],
            cwd=tmp_path / "app",
            env=process_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}", env, server_log
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_healthy(base: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("the scoring host did not become healthy:\n" + log.read_text())


def test_model_1_sample_builds_stages_and_scores(scoring_host: tuple[str, BuiltEnvironment, Path]) -> None:
    base, env, log = scoring_host
    if RUNNING != "3.12":
        assert any("3.12" in warning for warning in env.warnings)
    _wait_healthy(base, log)
    body = (SAMPLES / "model-1" / "sample-request.json").read_bytes()
    response = httpx.post(
        base + "/score", content=body, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert response.status_code == 200, response.text + "\n" + log.read_text()
    predictions = json.loads(response.text)
    assert isinstance(predictions, list) and len(predictions) == 2
    assert all(isinstance(p, float) for p in predictions)
