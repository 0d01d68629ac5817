"""Who may send commands: a bearer token (RFC 6750) among those configured.

Each presented token is compared with every configured one in constant time
(`hmac.compare_digest`), all of them every time, so neither the answer's timing nor its
content tells which token came close. A token is never logged nor echoed: a client is
known by its token's fingerprint, a short hash.
"""

from __future__ import annotations

import hashlib
import hmac

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

_SCHEME = b"bearer "
_REALM = 'Bearer realm="orders"'


def _fingerprint(token: bytes) -> str:
    return hashlib.sha256(token).hexdigest()[:16]


class BearerTokens:
    """The valid tokens; `client_of` tells whose a request is."""

    def __init__(self, tokens: tuple[bytes, ...]) -> None:
        self._tokens = tokens

    @property
    def enabled(self) -> bool:
        return bool(self._tokens)

    def presented(self, authorization: bytes | None) -> bytes | None:
        """The token of an `Authorization: Bearer <token>` header, or None."""
        if authorization is None or authorization[: len(_SCHEME)].lower() != _SCHEME:
            return None
        return authorization[len(_SCHEME) :].strip() or None

    def client_of(self, authorization: bytes | None) -> str | None:
        """The fingerprint of the valid token in the header, or None."""
        token = self.presented(authorization)
        if token is None:
            return None
        matched = False
        for valid in self._tokens:
            matched |= hmac.compare_digest(token, valid)
        return _fingerprint(token) if matched else None

    def guard(self, connection: ASGIConnection, _: BaseRouteHandler) -> None:
        """Litestar guard: 401 with `WWW-Authenticate` unless the token is valid."""
        authorization = authorization_of(connection)
        if self.client_of(authorization) is not None:
            return
        unset = "" if self.enabled else " (this replica takes no commands: API_TOKENS is not set)"
        if self.presented(authorization) is None:
            raise NotAuthorizedException(
                detail=f"this command needs Authorization: Bearer <token>{unset}",
                headers={"WWW-Authenticate": _REALM},
            )
        detail = f"the bearer token is not valid{unset}"
        raise NotAuthorizedException(
            detail=detail,
            headers={"WWW-Authenticate": f'{_REALM}, error="invalid_token"'},
        )


def authorization_of(connection: ASGIConnection) -> bytes | None:
    """The raw `Authorization` header of a request, or None."""
    for name, value in connection.scope["headers"]:
        if name == b"authorization":
            return value
    return None
