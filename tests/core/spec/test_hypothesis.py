"""Whatever YAML arrives, loading either succeeds or raises SpecError with located diagnostics — never anything else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from endpointctl.core.spec import SpecError, parse_deployment, parse_endpoint, parse_environment, parse_model
from tests.conftest import SAMPLES

FIELDS = [
    "name", "endpoint_name", "auth_mode", "traffic", "mirror_traffic", "model", "code_configuration", "environment",
    "instance_count", "instance_type", "request_settings", "liveness_probe", "readiness_probe", "scale_settings",
    "resources", "tags", "type", "compute", "path", "version", "image", "conda_file", "build", "identity",
    "environment_variables", "scoring_script", "code", "request_timeout_ms", "blue", "green", "$schema",
]  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True),
    st.text(max_size=40),
    st.sampled_from(["azureml:my-model:1", "azureml:x@latest", "azureml:", "../model", "key", "kubernetes"]),
)
keys = st.one_of(st.sampled_from(FIELDS), st.text(min_size=1, max_size=12))
documents = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=6)),
    max_leaves=25,
)
PARSERS = [parse_endpoint, parse_deployment, parse_model, parse_environment]


def _check(text: str, base_dir: Path) -> None:
    for parse in PARSERS:
        try:
            parse(text, source="gen.yml", base_dir=base_dir)
        except SpecError as exc:
            assert exc.diagnostics
            for diagnostic in exc.diagnostics:
                assert diagnostic.source in ("gen.yml",) or diagnostic.source.startswith("--set")
                assert diagnostic.message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_generated_documents_only_ever_fail_validation(document: Any) -> None:
    _check(yaml.safe_dump(document, allow_unicode=True), SAMPLES)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_only_ever_fails_validation(text: str) -> None:
    _check(text, SAMPLES)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), scalars, max_size=4))
@example({"path": "\x00"})  # found by hypothesis: the OS's ValueError escaped the validator
def test_mutated_sample_only_ever_fails_validation(changes: dict[str, Any]) -> None:
    base = yaml.safe_load((SAMPLES / "managed" / "sample" / "blue-deployment.yml").read_text())
    base.update(changes)
    _check(yaml.safe_dump(base), SAMPLES / "managed" / "sample")
