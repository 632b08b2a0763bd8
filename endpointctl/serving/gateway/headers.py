"""Header rewriting between the caller and a model instance, as Azure's router does it.

Hop-by-hop headers belong to one connection, so they never cross the gateway. The caller's credential is
dropped too: the model has no use for it and it would otherwise end up in the scoring script's request logs.
The caller's ``x-request-id`` is replaced by the gateway's own GUID, which the model sees and the caller gets back.
"""

from __future__ import annotations

import random

from endpointctl.serving.gateway.config import INSTANCE_TOKEN_HEADER

Headers = list[tuple[bytes, bytes]]

DEPLOYMENT_HEADER = b"azureml-model-deployment"
REQUEST_ID_HEADER = b"x-request-id"
MODEL_ERROR_STATUS_HEADER = b"ms-azureml-model-error-statuscode"
MODEL_ERROR_REASON_HEADER = b"ms-azureml-model-error-reason"

_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
        b"host",
        b"expect",
    }
)
# A caller's own instance token header never passes: only the gateway's reaches the instance.
_NOT_FORWARDED = _HOP_BY_HOP | {b"authorization", REQUEST_ID_HEADER, INSTANCE_TOKEN_HEADER}
_NOT_RETURNED = _HOP_BY_HOP | {REQUEST_ID_HEADER, DEPLOYMENT_HEADER}


_random_bits = random.getrandbits
_VERSION_4 = (~(0xC000 << 48) & ~(0xF000 << 64), (0x8000 << 48) | (4 << 76))


def new_request_id() -> bytes:
    """A version-4 GUID like Azure's; a correlation id, not a secret, so the fast non-cryptographic PRNG is fine
    (uuid.uuid4() costs a getrandom() system call and a UUID object per request)."""
    clear, set_bits = _VERSION_4
    h = b"%032x" % ((_random_bits(128) & clear) | set_bits)
    return b"%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def upstream_request_headers(headers: Headers, request_id: bytes, instance_token: bytes = b"") -> Headers:
    """What the model instance receives (the caller's headers are already lower-cased by the parser)."""
    out = [(k, v) for k, v in headers if k not in _NOT_FORWARDED]
    out.append((REQUEST_ID_HEADER, request_id))
    if instance_token:
        out.append((INSTANCE_TOKEN_HEADER, instance_token))
    return out


def caller_response_headers(upstream: Headers, request_id: bytes, deployment: str) -> Headers:
    """What the caller receives with a model's answer: its headers, plus which deployment served it."""
    out = [(k, v) for k, v in upstream if k not in _NOT_RETURNED]
    out.append((REQUEST_ID_HEADER, request_id))
    out.append((DEPLOYMENT_HEADER, deployment.encode("ascii")))
    return out


def model_error_headers(status: int, reason: bytes) -> Headers:
    # A reason phrase may legally hold obs-text; keep it printable so the header stays valid for any client.
    safe_reason = bytes(b if 0x20 <= b < 0x7F else 0x3F for b in reason.strip()) or b"Unknown"
    return [(MODEL_ERROR_STATUS_HEADER, b"%d" % status), (MODEL_ERROR_REASON_HEADER, safe_reason)]
