"""One check of paths and query strings, for HTTP (a middleware) and WebSockets (an ASGI wrapper).

A NUL character (``%00``) or a lone surrogate cannot be stored or even compared by PostgreSQL (SQLite takes
them): refusing them up front answers the same 400 (4400 on a socket) on both databases, before any view runs.
"""

from urllib.parse import unquote

from django.http import HttpResponseBadRequest

from api.errors import json_error
from api.parsers import unstorable

#: Close code of a socket whose path or query string holds a NUL character (after HTTP 400).
CLOSE_BAD_REQUEST = 4400
REASON = "the path and query string may not contain NUL characters (%00)"


def refused(path: str, query_string: str) -> bool:
    """True when the (decoded) path or the query string, once percent-decoded, holds a NUL or lone surrogate."""
    # errors="replace": bytes that are not UTF-8 become U+FFFD, as Django and parse_qs decode them; a NUL survives.
    return unstorable(path) or unstorable(unquote(query_string, errors="replace"))


class RefuseNulMiddleware:
    """400 in the API's error shape (a plain 400 outside /api/) for a NUL in the path or query string."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if refused(request.path, request.META.get("QUERY_STRING", "")):
            if request.path.startswith("/api/"):
                return json_error("invalid", REASON)
            return HttpResponseBadRequest(REASON, content_type="text/plain")
        return self.get_response(request)


class RefuseNulSockets:
    """ASGI wrapper: a socket whose path or query string holds a NUL is accepted, then closed with 4400."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        query = scope.get("query_string", b"").decode("latin-1")
        if scope["type"] == "websocket" and refused(scope.get("path", ""), query):
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})
                await send({"type": "websocket.close", "code": CLOSE_BAD_REQUEST, "reason": REASON})
            return None
        return await self.inner(scope, receive, send)
