"""The standalone gateway process and its admin API, as the Docker and Kubernetes backends drive it."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.serving.gateway.conftest import KEY_A, UpstreamFactory, auth, deployment, endpoint, unused_port


@pytest.fixture
def standalone(tmp_path: Path, upstreams: UpstreamFactory) -> Iterator[tuple[str, dict[str, int]]]:
    up = upstreams("blue-0")
    config = tmp_path / "gateway.json"
    config.write_text(json.dumps({"endpoints": {"ep1": endpoint({"blue": deployment(up)}, {"blue": 100})}}))
    cmd = [sys.executable, "-m", "endpointctl.serving.gateway", "--admin-port", "0", "--config", str(config)]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    ready = json.loads(process.stdout.readline())
    try:
        yield f"http://127.0.0.1:{ready['admin_port']}", ready["endpoints"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0


def test_admin_api_end_to_end(standalone: tuple[str, dict[str, int]], upstreams: UpstreamFactory) -> None:
    admin, ports = standalone
    with httpx.Client(timeout=10) as http:
        assert http.get(f"{admin}/healthz").json() == {"status": "ok"}
        url = f"http://127.0.0.1:{ports['ep1']}/score"
        assert http.post(url, json={}, headers=auth()).status_code == 200

        shown = http.get(f"{admin}/v1/config").json()
        assert shown["endpoints"]["ep1"]["keys"] == ["***", "***"]
        assert KEY_A not in json.dumps(shown)
        assert shown["endpoints"]["ep1"]["port"] == ports["ep1"]

        green = upstreams("green-0", status=500)
        doc = {
            "endpoints": {
                "ep1": endpoint({"blue": deployment(green.address)}, {"blue": 100}, port=ports["ep1"]),
                "ep2": endpoint({"green": deployment(green)}, {"green": 100}),
            }
        }
        applied = http.put(f"{admin}/v1/config", content=json.dumps(doc))
        assert applied.status_code == 200
        ep2 = applied.json()["endpoints"]["ep2"]
        assert ep2["scoring_uri"] == f"http://127.0.0.1:{ep2['port']}/score"
        assert http.post(url, json={}, headers=auth()).status_code == 424
        assert http.post(ep2["scoring_uri"], json={}, headers=auth()).status_code == 424
        assert http.post(ep2["scoring_uri"], json={}).status_code == 401

        snapshot = http.get(f"{admin}/v1/metrics").json()
        blue = snapshot["endpoints"]["ep1"]["deployments"]["blue"]
        assert blue["by_class"]["2xx"] == 1
        assert blue["model_errors_424"] == 1
        assert blue["latency"]["p50_ms"] > 0
        assert snapshot["endpoints"]["ep2"]["deployments"][""]["by_status"] == {"401": 1}

        prom = http.get(f"{admin}/metrics")
        assert prom.headers["content-type"].startswith("text/plain; version=0.0.4")
        lines = prom.text.splitlines()
        assert (
            'endpointctl_gateway_requests_total{endpoint="ep1",deployment="blue",code="200",class="2xx"} 1'
            in lines
        )
        assert (
            'endpointctl_gateway_requests_total{endpoint="ep1",deployment="blue",code="424",class="4xx"} 1'
            in lines
        )
        assert (
            'endpointctl_gateway_request_duration_seconds_count{endpoint="ep1",deployment="blue"} 2' in lines
        )
        assert 'endpointctl_gateway_in_flight{endpoint="ep1",deployment="blue"} 0' in lines
        assert any(
            line.startswith("# TYPE endpointctl_gateway_request_duration_seconds histogram") for line in lines
        )


def test_admin_api_rejects_bad_config_and_reports_bind_errors(standalone: tuple[str, dict[str, int]]) -> None:
    admin, ports = standalone
    with httpx.Client(timeout=10) as http:
        invalid = http.put(
            f"{admin}/v1/config", content=b'{"endpoints": {"ep1": {"keys": ["k"], "traffic": {"nope": 100}}}}'
        )
        assert invalid.status_code == 400
        assert "nope" in invalid.json()["message"]
        assert http.put(f"{admin}/v1/config", content=b"{not json").status_code == 400

        occupied = {"endpoints": {"ep9": endpoint({"blue": deployment("127.0.0.1:1")}, port=ports["ep1"])}}
        conflict = http.put(f"{admin}/v1/config", content=json.dumps(occupied))
        assert conflict.status_code == 409
        assert f"127.0.0.1:{ports['ep1']}" in conflict.json()["message"]
        assert "ep9" in conflict.json()["message"]
        # Nothing changed: ep1 still served, ep9 unknown.
        assert set(http.get(f"{admin}/v1/config").json()["endpoints"]) == {"ep1"}
        assert http.post(f"http://127.0.0.1:{ports['ep1']}/score", json={}, headers=auth()).status_code == 200

        assert http.delete(f"{admin}/v1/config").status_code == 405
        assert http.get(f"{admin}/v1/nothing").status_code == 404


def test_admin_port_in_use_is_a_clear_error() -> None:
    port = unused_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        cmd = [sys.executable, "-m", "endpointctl.serving.gateway", "--admin-port", str(port)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert f"127.0.0.1:{port}" in done.stderr
