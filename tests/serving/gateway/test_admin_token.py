"""The admin API's token: as a bearer (loopback callers) or in its own header (what a Kubernetes API server's
service proxy forwards, since it consumes the Authorization header itself); /healthz needs none."""

from __future__ import annotations

import httpx

from endpointctl.serving.gateway import Gateway
from endpointctl.serving.gateway.admin import AdminApi

TOKEN = "admin-token-0123456789abcdef"


async def test_the_token_is_accepted_as_a_bearer_or_in_its_own_header_and_nothing_else() -> None:
    gw = Gateway(drain_timeout_s=2)
    await gw.start()
    admin = AdminApi(gw, token=TOKEN)
    port = await admin.start("127.0.0.1", 0)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            assert (await http.get(f"{url}/healthz")).status_code == 200
            refused = [
                {},
                {"Authorization": TOKEN},  # not a bearer
                {"Authorization": f"Bearer {TOKEN}x"},
                {"X-Endpointctl-Admin-Token": f"Bearer {TOKEN}"},  # the header carries the token alone
                {"X-Endpointctl-Admin-Token": TOKEN[:-1]},
            ]
            for headers in refused:
                assert (await http.get(f"{url}/v1/metrics", headers=headers)).status_code == 401, headers
            for headers in ({"Authorization": f"Bearer {TOKEN}"}, {"X-Endpointctl-Admin-Token": TOKEN}):
                assert (await http.get(f"{url}/v1/metrics", headers=headers)).status_code == 200, headers
    finally:
        await admin.close()
        await gw.stop()
