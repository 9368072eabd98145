"""Authentication for WebSockets: the session cookie (browsers) or an API token (other clients).

A token goes in the ``Authorization: Token <key>`` header, or as ``?token=<key>`` where a client cannot
set headers (browsers' WebSocket API). Consumers refuse anonymous scopes themselves.
"""

import math
from types import SimpleNamespace
from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser
from rest_framework.exceptions import AuthenticationFailed, Throttled

from api.authentication import CachedTokenAuthentication

#: Close code and reason of a socket without valid credentials: accepted, then closed, so that a real
#: client reads them (a refused handshake would only show it an HTTP 403).
CLOSE_UNAUTHENTICATED = 4401
UNAUTHENTICATED_REASON = "log in or send Authorization: Token <key> (or ?token=)"
#: Close code of a socket from an address that sent too many bad tokens (HTTP's 429).
CLOSE_THROTTLED = 4429


def _token_from(scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            kind, _, key = value.decode("latin-1").partition(" ")
            if kind.lower() == "token" and key:
                return key.strip()
    values = parse_qs(scope.get("query_string", b"").decode()).get("token")
    return values[0] if values else None


def _client(scope) -> SimpleNamespace:
    """What the throttle reads of a request (its address, and X-Forwarded-For behind declared proxies)."""
    meta = {"REMOTE_ADDR": (scope.get("client") or ("",))[0]}
    for name, value in scope.get("headers", []):
        if name == b"x-forwarded-for":
            meta["HTTP_X_FORWARDED_FOR"] = value.decode("latin-1")
    return SimpleNamespace(META=meta)


@database_sync_to_async
def _user_for(key: str, scope):
    try:
        return CachedTokenAuthentication().authenticate_key(key, _client(scope))[0]
    except AuthenticationFailed:
        return AnonymousUser()


async def _refuse_throttled(receive, send, exc: Throttled) -> None:
    """Accept, then close with CLOSE_THROTTLED: a close code reaches the client only on an open connection."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    reason = f"too many failed authentications from this address: retry in {math.ceil(exc.wait or 1)} s"
    await send({"type": "websocket.close", "code": CLOSE_THROTTLED, "reason": reason})


class TokenAuthMiddleware(BaseMiddleware):
    """Sets ``scope["user"]`` from a token when one is given; otherwise the session's user stands.

    An address that sent too many bad tokens (RHYTHMIC_THROTTLE_FAILED_AUTH) is closed with 4429 unchecked.
    """

    async def __call__(self, scope, receive, send):
        key = _token_from(scope)
        if key is not None:
            try:
                scope = dict(scope, user=await _user_for(key, scope))
            except Throttled as exc:
                return await _refuse_throttled(receive, send, exc)
        return await super().__call__(scope, receive, send)


def WebSocketAuth(inner):
    return AuthMiddlewareStack(TokenAuthMiddleware(inner))
