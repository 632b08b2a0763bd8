from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest

from endpointctl.backends.azure.arm import Tuning
from endpointctl.backends.azure.backend import AzureBackend
from endpointctl.core.context import BackendContext
from endpointctl.core.home import Home
from endpointctl.core.ports import BackendFactory
from endpointctl.core.service import EndpointService

# azure-ai-ml (a test-only dependency: its REST models check the double's request bodies) builds
# marshmallow schemas at import, and marshmallow warns about each field it will change in 4.0. Those are
# azure-ai-ml's to fix; silence exactly them — raised from azure's modules, or from marshmallow on their
# behalf — before `double` imports azure.ai.ml. filterwarnings puts them in front of pytest's own "always
# show DeprecationWarning" filter (marshmallow's warnings subclass DeprecationWarning), so they win. Other
# packages' warnings, and warnings from endpointctl, still show.
for _module in (r"azure\.ai\.ml(\..*)?$", r"marshmallow(\..*)?$"):
    warnings.filterwarnings("ignore", message=r".*", category=DeprecationWarning, module=_module)

from tests.backends.azure.double import RG, SUB, WS, ArmDouble, make_token  # noqa: E402

OID = "11111111-2222-3333-4444-555555555555"
UPN = "alice@contoso.example"


@dataclass
class Token:
    token: str
    expires_on: int


@dataclass
class FakeCredential:
    """Stands in for DefaultAzureCredential: hands out one JWT-shaped token and counts its use."""

    token: str
    scopes: list[tuple[str, ...]] = field(default_factory=list)
    closed: bool = False

    async def get_token(self, *scopes: str, **kwargs: Any) -> Token:
        self.scopes.append(scopes)
        return Token(self.token, int(time.time()) + 3600)

    async def close(self) -> None:
        self.closed = True


@dataclass
class Sleeps:
    """Records every backoff/poll wait instead of sleeping, so Retry-After is visible and tests are fast."""

    waits: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


def no_credential() -> FakeCredential:
    raise AssertionError("the credential must not be created here")


@pytest.fixture
def double() -> Iterator[ArmDouble]:
    d = ArmDouble(authorized_oids={OID}, retry_after="1").start()
    yield d
    d.stop()


@pytest.fixture
def credential() -> FakeCredential:
    return FakeCredential(make_token(OID, upn=UPN))


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def tuning(sleeps: Sleeps) -> Tuning:
    return Tuning(attempts=4, backoff_s=0.5, max_sleep_s=30, lro_interval_s=2, sleep=sleeps)


def configure(home: Home, **defaults: str) -> BackendContext:
    context = BackendContext.open(home)
    with context.store.transaction() as tx:
        for key, value in defaults.items():
            tx.set_default(key, value)
    context.store.close()
    return BackendContext.open(home)


@pytest.fixture
def context(home: Home, double: ArmDouble) -> Iterator[BackendContext]:
    ctx = configure(home, subscription=SUB, group=RG, workspace=WS, arm_endpoint=double.url)
    yield ctx
    ctx.store.close()


Factory = Callable[..., AzureBackend]


@pytest.fixture
def factory(credential: FakeCredential, tuning: Tuning) -> BackendFactory:
    return partial(AzureBackend, credential_factory=lambda: credential, tuning=tuning)


@pytest.fixture
async def service(context: BackendContext, factory: BackendFactory) -> AsyncIterator[EndpointService]:
    svc = EndpointService(context, {"azure": factory})
    yield svc
    for backend in list(svc._backends.values()):
        await backend.close()
