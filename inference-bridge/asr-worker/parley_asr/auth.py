"""Who may call this worker: a shared secret and, optionally, TLS.

The node sends `authorization: Bearer <token>` on every call when
ASR_AUTH_TOKEN is set (the embedded worker always gets a per-process one);
calls without it end with UNAUTHENTICATED before any servicer code runs.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

_DENIED = "missing or wrong authorization token"


def _deny(_request: object, context: grpc.ServicerContext) -> None:
    context.abort(grpc.StatusCode.UNAUTHENTICATED, _DENIED)


class TokenAuth(grpc.ServerInterceptor):  # type: ignore[misc]  # grpc ships no types
    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()
        self._denied = {
            "unary": grpc.unary_unary_rpc_method_handler(_deny),
            "stream": grpc.stream_stream_rpc_method_handler(_deny),
        }

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        for key, value in details.invocation_metadata or ():
            if key == "authorization" and hmac.compare_digest(str(value).encode(), self._expected):
                return continuation(details)
        handler = continuation(details)
        if handler is None:  # an unknown method: let grpc answer UNIMPLEMENTED
            return None
        return self._denied["stream" if handler.request_streaming else "unary"]


def server_credentials(cert_file: str, key_file: str, client_ca_file: str | None) -> Any:
    """TLS for the listening port; with a client CA, callers must present a certificate it signed."""
    key, cert = Path(key_file).read_bytes(), Path(cert_file).read_bytes()
    ca = Path(client_ca_file).read_bytes() if client_ca_file else None
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=ca is not None)
