"""Authentication for WebSockets: the session cookie (browsers) or an API token (other clients).

A token goes in the ``Authorization: Token <key>`` header, or as ``?token=<key>`` where a client cannot
set headers (browsers' WebSocket API). Consumers refuse anonymous scopes themselves.
"""

from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser
from rest_framework.exceptions import AuthenticationFailed

from api.authentication import CachedTokenAuthentication

#: Close code and reason of a socket without valid credentials: accepted, then closed, so that a real
#: client reads them (a refused handshake would only show it an HTTP 403).
CLOSE_UNAUTHENTICATED = 4401
UNAUTHENTICATED_REASON = "log in or send Authorization: Token <key> (or ?token=)"


def _token_from(scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            kind, _, key = value.decode("latin-1").partition(" ")
            if kind.lower() == "token" and key:
                return key.strip()
    values = parse_qs(scope.get("query_string", b"").decode()).get("token")
    return values[0] if values else None


@database_sync_to_async
def _user_for(key: str):
    try:
        return CachedTokenAuthentication().authenticate_credentials(key)[0]
    except AuthenticationFailed:
        return AnonymousUser()


class TokenAuthMiddleware(BaseMiddleware):
    """Sets ``scope["user"]`` from a token when one is given; otherwise the session's user stands."""

    async def __call__(self, scope, receive, send):
        key = _token_from(scope)
        if key is not None:
            scope = dict(scope, user=await _user_for(key))
        return await super().__call__(scope, receive, send)


def WebSocketAuth(inner):
    return AuthMiddlewareStack(TokenAuthMiddleware(inner))
