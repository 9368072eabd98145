"""Request size limits enforced before anything is buffered: HTTP bodies (413) and WebSocket messages (1009).

Every route takes a body of at most RHYTHMIC_MAX_JSON_BYTES; the routes that upload an artifact take
RHYTHMIC_MAX_ARTIFACT_BYTES, those that upload a dataset RHYTHMIC_MAX_DATASET_BYTES (plus a multipart form's
overhead). The check runs where the server first sees a
request's headers: a Django middleware under WSGI (Django reads a WSGI body lazily), and daphne's own request
under ASGI, since daphne (Twisted) gathers the whole body, and Django's ASGIHandler reads it again, before any
Django code runs; an ASGI wrapper does the same for other ASGI servers.
"""

import json
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import Resolver404, resolve

from catalogue.errors import TooLarge, error_body

#: Routes that take an artifact (raw body or multipart form), by URL name; every other route takes JSON.
UPLOAD_ROUTES = frozenset(
    {
        "api:version-list",
        "serving:compat-model",
        "serving:compat-model-named",
        "dashboard:version-upload",
        "admin:catalogue_modelversion_add",
    }
)
#: Routes that take a dataset file (a multipart form), by URL name: RHYTHMIC_MAX_DATASET_BYTES plus the form.
DATASET_ROUTES = frozenset({"api:dataset-list", "dashboard:dataset-upload", "admin:catalogue_dataset_add"})
#: A multipart form around an artifact of the largest size still fits: its boundaries and other fields.
MULTIPART_OVERHEAD = 1024 * 1024


def body_cap(path: str | None) -> tuple[int, str]:
    """The most bytes a request body to ``path`` may hold, and the setting that says so.

    An unknown path (a server that does not tell it) gets the largest cap: still bounded, never refusing an upload.
    """
    artifact = (settings.RHYTHMIC_MAX_ARTIFACT_BYTES + MULTIPART_OVERHEAD, "RHYTHMIC_MAX_ARTIFACT_BYTES")
    dataset = (settings.RHYTHMIC_MAX_DATASET_BYTES + MULTIPART_OVERHEAD, "RHYTHMIC_MAX_DATASET_BYTES")
    if path is None:
        return dataset if dataset[0] > artifact[0] else artifact
    try:
        match = resolve(path)
    except Resolver404:
        return settings.RHYTHMIC_MAX_JSON_BYTES, "RHYTHMIC_MAX_JSON_BYTES"
    if match.view_name in UPLOAD_ROUTES:
        return artifact
    if match.view_name in DATASET_ROUTES:
        return dataset
    return settings.RHYTHMIC_MAX_JSON_BYTES, "RHYTHMIC_MAX_JSON_BYTES"


def refusal(*, path: str | None, length: int | None) -> dict | None:
    """The 413 error body for a request to ``path`` whose body is ``length`` bytes (None: not known yet), or None."""
    if length is not None and length <= settings.RHYTHMIC_MAX_JSON_BYTES:
        return None  # the common case costs no URL resolution
    cap, setting = body_cap(path)
    if length is not None and length <= cap:
        return None
    where = path or "this route"
    if length is None:
        message = f"the request body (chunked) passed {cap} bytes, the most {where} takes ({setting})"
        return error_body(TooLarge(message))
    return error_body(TooLarge(f"the request body is {length} bytes; {where} takes at most {cap} bytes ({setting})"))


def _content_length(value: str | bytes | None) -> int | None:
    try:
        return int(value) if value not in (None, "", b"") else None
    except ValueError:
        return None


class BodyLimitMiddleware:
    """WSGI (gunicorn): refuse a declared Content-Length over the route's cap before the body is read.

    A WSGI body without Content-Length (chunked) is never read by Django (it sees an empty body), so it is
    bounded already. Under daphne the same check ran earlier, in :class:`LimitedWebRequest`.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        length = _content_length(request.META.get("CONTENT_LENGTH"))
        refused = refusal(path=request.path_info, length=length) if length is not None else None
        if refused is not None:
            response = JsonResponse(refused, status=413)
            response.headers["Content-Length"] = str(len(response.content))  # no chunked answer from gunicorn
            return response
        return self.get_response(request)


def limit_body(app):
    """ASGI: the same check for any ASGI server, before Django's ASGIHandler reads (and spools) the whole body.

    Under daphne it never fires (:class:`LimitedWebRequest` refused first); other servers (uvicorn...) hand the
    body over as it arrives, so a declared length is refused unread and a chunked one once it passes the cap.
    """

    async def limited(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        length = _content_length(dict(scope.get("headers", ())).get(b"content-length"))
        refused = refusal(path=scope["path"], length=length) if length is not None else None
        if refused is not None:
            return await _send_413(send, refused)
        if length is not None or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await app(scope, receive, send)
        cap = body_cap(scope["path"])[0]
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    await _send_413(send, refusal(path=scope["path"], length=None))
                    return {"type": "http.disconnect"}  # Django stops reading and answers nothing more
            return message

        return await app(scope, counted, send)

    return limited


async def _send_413(send, body: dict) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": [*headers, (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": payload})


# --- daphne ------------------------------------------------------------------------------------


def _request_path(request) -> str | None:
    """The path of a Twisted request whose headers are in but whose body is not (Twisted sets .path later)."""
    raw = getattr(request.channel, "_path", None)  # HTTP/1.1's request line; HTTP/2 streams do not have it
    if not isinstance(raw, bytes):
        return None
    return unquote(urlsplit(raw.decode("latin-1")).path)


def _limited_request_class(base):
    class LimitedWebRequest(base):
        """daphne's request, refusing a body over its route's cap as soon as the headers (or a chunk) show it."""

        rhythmic_limited = True
        _cap: int | None = None  # set for bodies without Content-Length, counted chunk by chunk
        _received = 0
        _refused = False

        def gotLength(self, length):
            path = _request_path(self)
            if length is None:
                self._cap = body_cap(path)[0]
            else:
                refused = refusal(path=path, length=length)
                if refused is not None:
                    self._refuse(refused)
            super().gotLength(0 if self._refused else length)

        def handleContentChunk(self, data):
            if self._refused:
                return
            if self._cap is not None:
                self._received += len(data)
                if self._received > self._cap:
                    self._refuse(refusal(path=_request_path(self), length=None))
                    return
            super().handleContentChunk(data)

        def process(self):
            if not self._refused:
                return super().process()
            return None

        def _refuse(self, body: dict) -> None:
            """Answer 413 and close: the rest of the body is never read (as Twisted answers a malformed request)."""
            self._refused = True
            # No "100 Continue" after the final answer: Twisted sends it after gotLength when asked to.
            self.requestHeaders.removeHeader(b"Expect")
            payload = json.dumps(body).encode()
            head = (
                b"HTTP/1.1 413 Content Too Large\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(payload)
            )
            self.channel.transport.write(head + payload)
            self.channel.loseConnection()

    return LimitedWebRequest


def _limited_websocket_factory(base):
    class LimitedWebSocketFactory(base):
        """daphne's WebSocket factory with RHYTHMIC_WS_MAX_FRAME_BYTES as its message limit.

        autobahn refuses a frame from its header, before reading the payload. failByDrop=False makes that
        (and any protocol error) a close frame with a code (1009: message too big) and a reason, not a
        dropped TCP connection.
        """

        def setProtocolOptions(self, **options):
            cap = settings.RHYTHMIC_WS_MAX_FRAME_BYTES
            options.update(maxMessagePayloadSize=cap, maxFramePayloadSize=cap, failByDrop=False)
            super().setProtocolOptions(**options)

    return LimitedWebSocketFactory


def install_daphne_limits() -> None:
    """Make daphne build the limited request and WebSocket factory (rhythmic.asgi calls this at import).

    daphne has no option for a body limit nor for a clean close of oversized messages; it looks both classes
    up by name when it starts serving, after it has imported the application, so replacing them here works.
    """
    from daphne import http_protocol, server

    if not getattr(http_protocol.WebRequest, "rhythmic_limited", False):
        http_protocol.WebRequest = _limited_request_class(http_protocol.WebRequest)
        server.WebSocketFactory = _limited_websocket_factory(server.WebSocketFactory)
