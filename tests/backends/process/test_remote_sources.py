"""A kubernetes-type spec may name pvc:// or https:// sources; a local backend refuses them before any change."""

from __future__ import annotations

from pathlib import Path

import pytest

from endpointctl.core.errors import InvalidInput
from endpointctl.core.home import Home
from endpointctl.core.service import EndpointService
from endpointctl.core.spec import load_endpoint, parse_deployment
from tests.conftest import SAMPLES

K8S = SAMPLES / "kubernetes"


@pytest.mark.parametrize(
    ("field", "yaml_line", "value"),
    [
        ("model.path", "  path: ../model-1/model/", "  path: pvc://models-claim/sklearn/model"),
        (
            "code_configuration.code",
            "  code: ../model-1/onlinescoring/",
            "  code: https://example.com/c.tar.gz",
        ),
    ],
)
async def test_remote_source_is_refused_and_nothing_is_recorded(
    process_home: Home, field: str, yaml_line: str, value: str
) -> None:
    text = (K8S / "kubernetes-blue-deployment.yml").read_text().replace(yaml_line, value)
    spec = parse_deployment(text, source="remote.yml", base_dir=Path(K8S))
    service = EndpointService.open(process_home)
    try:
        await service.create_endpoint(load_endpoint(K8S / "kubernetes-endpoint.yml"), backend="process")
        with pytest.raises(InvalidInput, match=rf"{field}: .*only the kubernetes backend"):
            await service.apply_deployment(spec, backend="process")
        assert await service.list_deployments("my-endpoint", backend="process") == []
        await service.delete_endpoint("my-endpoint", backend="process")
    finally:
        await service.close()
