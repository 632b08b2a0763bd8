"""Turn a deployment spec into what a process instance runs: a built environment and a staged app folder."""

from __future__ import annotations

import asyncio

from endpointctl.backends.local.layout import Layout
from endpointctl.backends.local.runtime import Prepared, Progress
from endpointctl.backends.local.sources import code_source, model_source, requirements
from endpointctl.backends.process.environments import BuiltEnvironment, EnvironmentBuilder
from endpointctl.backends.process.storage import stage_app
from endpointctl.core.assets import AssetRegistry
from endpointctl.core.spec import DeploymentSpec


async def prepare(
    spec: DeploymentSpec,
    revision: int,
    *,
    layout: Layout,
    registry: AssetRegistry,
    builder: EnvironmentBuilder,
    progress: Progress,
) -> Prepared:
    endpoint, name = spec.endpoint_name, spec.name
    wanted, image = requirements(spec, registry)
    progress("environment: checking the cache")
    built: BuiltEnvironment = await builder.ensure(
        wanted, log=layout.build_log(endpoint, name), progress=progress
    )
    app_dir = layout.app_dir(endpoint, name, revision)
    progress("storage-initializer: staging model and code")
    staged = await asyncio.to_thread(
        stage_app,
        app_dir,
        model=model_source(spec, registry),
        code=code_source(spec),
        log=layout.storage_log(endpoint, name),
    )
    env = {**staged.env, **spec.environment_variables}
    notes = list(built.notes)
    if image:
        notes.append(f"environment image {image} is recorded but not used by the process backend")
    return Prepared(env, {"python": str(built.python), "app_dir": str(app_dir)}, built.warnings, tuple(notes))
