"""The endpoint's keys: one Secret per endpoint holds both keys and the token-signing secret."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

from endpointctl.backends.kubernetes import manifests, naming
from endpointctl.backends.kubernetes.apply import apply
from endpointctl.backends.kubernetes.client import KubeClient
from endpointctl.backends.kubernetes.targets import Targets
from endpointctl.backends.kubernetes.views import BACKEND, routing_of
from endpointctl.core import keys
from endpointctl.core.errors import NotFound
from endpointctl.core.ports import KeyType
from endpointctl.core.store import KeyRecord
from endpointctl.core.views import Credentials


async def key_material(client: KubeClient, endpoint: str) -> manifests.KeyMaterial | None:
    secret = await client.find("Secret", naming.keys_secret_name(endpoint))
    if secret is None:
        return None
    doc = json.loads(base64.b64decode(secret["data"][manifests.KEYS_KEY]))
    entry = doc["endpoints"][endpoint]
    return manifests.KeyMaterial(entry["keys"][0], entry["keys"][1], entry["token_secret"])


async def admin_token(client: KubeClient, endpoint: str) -> str | None:
    """The token the endpoint's gateway admin API asks for, or None when its Secret does not exist."""
    secret = await client.find("Secret", naming.admin_token_secret_name(endpoint))
    if secret is None:
        return None
    token = base64.b64decode((secret.get("data") or {}).get(manifests.ADMIN_TOKEN_KEY, "")).decode()
    return token.strip() or None


async def credentials(targets: Targets, endpoint: str) -> Credentials:
    client, routing_cm = await targets.locate(endpoint)
    spec, _ = routing_of(routing_cm)
    material = await key_material(client, endpoint)
    if material is None:
        raise NotFound(f"endpoint {endpoint} has no keys Secret ({naming.keys_secret_name(endpoint)})")
    record = KeyRecord(
        BACKEND, endpoint, material.primary, material.secondary, material.token_secret, time.time()
    )
    return keys.credentials_for(record, spec.auth_mode)


async def regenerate(targets: Targets, endpoint: str, key_type: KeyType, new_key: Callable[[], str]) -> None:
    client, _ = await targets.locate(endpoint)
    material = await key_material(client, endpoint)
    if material is None:
        raise NotFound(f"endpoint {endpoint} has no keys Secret")
    if key_type == "primary":
        material = manifests.KeyMaterial(new_key(), material.secondary, material.token_secret)
    else:
        material = manifests.KeyMaterial(material.primary, new_key(), material.token_secret)
    # The gateway re-reads the mounted Secret; the other key never stops working.
    await apply(client, manifests.keys_secret(endpoint, material, client.target.namespace))
