"""One address for everything `make run` serves: an ASGI application for granian (or any ASGI server).

Plain HTTP runs the WSGI application (rhythmic/wsgi.py) on a few persistent threads, so a request costs no new
thread nor database connection (Django's own ASGI handler starts a thread per request: 2-3x slower here,
bench/README.md). WebSockets and the server-sent events of /api/stream/ go to the ASGI router (rhythmic/asgi.py),
where each open stream is a coroutine on the event loop, never one of those threads.
"""

import asyncio
import io
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

# The WSGI threads are persistent: each keeps its own database connection (CONN_MAX_AGE), cheaper than a pool.
os.environ.setdefault("DATABASE_POOL", "0")
THREADS = int(os.environ.get("RHYTHMIC_HTTP_THREADS", "4"))
# rhythmic/asgi.py registers this process as one production instance of this kind (not inherited by children).
os.environ["RHYTHMIC_SERVER_KIND"] = "onesite"

from rhythmic.asgi import application as asgi_application  # noqa: E402 - first: it sets Django up
from rhythmic.wsgi import application as wsgi_application  # noqa: E402

del os.environ["RHYTHMIC_SERVER_KIND"]

# isort: split
from django.conf import settings  # noqa: E402

from api.broadcast import broadcaster  # noqa: E402
from api.limits import limit_body  # noqa: E402
from serving import instances  # noqa: E402

#: Routes that stream without end: the async views of api/compat_sse.py, served by the ASGI router.
ASGI_PREFIXES = ("/api/stream/",)
#: A body up to this size stays in memory; a larger one (an artifact upload) is spooled to a temporary file.
SPOOL_BYTES = 1024 * 1024
WS_TOO_BIG = 1009


class WsgiThreads:
    """Runs a WSGI application for ASGI HTTP requests on ``threads`` persistent threads.

    An idle thread is reused before a new one starts (ThreadPoolExecutor), so one client is served by one
    thread and its one database connection; more threads serve concurrent requests (an upload, a slow page).
    """

    def __init__(self, app, threads: int) -> None:
        self.app = app
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="rhythmic-wsgi")

    async def __call__(self, scope, receive, send) -> None:
        body = await _read_body(receive)
        if body is None:
            return  # the client went away, or limit_body answered 413 already
        loop = asyncio.get_running_loop()
        environ = _environ(scope, body)
        status, headers, chunks, rest = await loop.run_in_executor(self.executor, self._start, environ, loop, send)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        if rest is None:
            await send({"type": "http.response.body", "body": chunks})
            return
        # A streaming response (a file download): its chunks are read on the thread and sent one by one.
        await send({"type": "http.response.body", "body": chunks, "more_body": True})
        await loop.run_in_executor(self.executor, _stream_rest, rest, loop, send)

    def _start(self, environ, loop, send):
        """On a WSGI thread: (status, headers, body, None), or (..., first chunk, the response) when it streams."""
        started = []

        def start_response(status, response_headers, exc_info=None):
            started[:] = [status, response_headers]

        result = self.app(environ, start_response)
        status = int(started[0].split(" ", 1)[0])
        headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in started[1]]
        if not getattr(result, "streaming", False):
            try:
                return status, headers, b"".join(result), None
            finally:
                if hasattr(result, "close"):
                    result.close()
        iterator = iter(result)
        first = next(iterator, b"")
        return status, headers, first, (result, iterator)


def _stream_rest(rest, loop, send) -> None:
    result, iterator = rest
    try:
        for chunk in iterator:
            if chunk:
                asyncio.run_coroutine_threadsafe(
                    send({"type": "http.response.body", "body": chunk, "more_body": True}), loop
                ).result()
        asyncio.run_coroutine_threadsafe(send({"type": "http.response.body", "body": b""}), loop).result()
    finally:
        if hasattr(result, "close"):
            result.close()


async def _read_body(receive):
    """The whole request body as a file (in memory, spooled to disk when large); None if the client left."""
    first = await receive()
    if first["type"] != "http.request":
        return None
    chunk = first.get("body", b"")
    if not first.get("more_body", False):
        return io.BytesIO(chunk)
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - handed to the WSGI application
    spool.write(chunk)
    while True:
        message = await receive()
        if message["type"] != "http.request":
            spool.close()
            return None
        spool.write(message.get("body", b""))
        if not message.get("more_body", False):
            spool.seek(0)
            return spool


def _environ(scope, body) -> dict:
    """PEP 3333's environ for an ASGI HTTP scope (as a2wsgi and asgiref build it)."""
    server = scope.get("server") or ("127.0.0.1", 80)
    client = scope.get("client") or ("127.0.0.1", 0)
    root = scope.get("root_path", "")
    path = scope["path"]
    if root and path.startswith(root):
        path = path[len(root) :]
    environ = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": root.encode("utf-8").decode("latin-1"),
        "PATH_INFO": path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]) if server[1] is not None else "80",
        "REMOTE_ADDR": str(client[0]),
        "REMOTE_PORT": str(client[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[name] = value
            continue
        key = f"HTTP_{name}"
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def limit_messages(app, cap: int):
    """WebSockets: close a connection with 1009 and a reason when a message passes ``cap`` bytes.

    daphne refuses such a frame from its header (api/limits.py); other servers hand the whole message over,
    so this is the same answer, after the server has read it."""

    async def limited(scope, receive, send):
        if scope["type"] != "websocket":
            return await app(scope, receive, send)

        async def checked():
            message = await receive()
            if message["type"] == "websocket.receive":
                size = len(message.get("bytes") or b"") + len((message.get("text") or "").encode())
                if size > cap:
                    reason = f"message of {size} bytes; at most {cap} (RHYTHMIC_WS_MAX_FRAME_BYTES)"
                    await send({"type": "websocket.close", "code": WS_TOO_BIG, "reason": reason[:120]})
                    return {"type": "websocket.disconnect", "code": WS_TOO_BIG}
            return message

        return await app(scope, checked, send)

    return limited


async def _lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            # uvicorn ends on the signal it caught, so no atexit handler runs: the instance's stop is recorded here.
            await asyncio.get_running_loop().run_in_executor(None, instances.stop)
            await send({"type": "lifespan.shutdown.complete"})
            return


wsgi_threads = limit_body(WsgiThreads(wsgi_application, THREADS))
sockets = limit_messages(asgi_application, settings.RHYTHMIC_WS_MAX_FRAME_BYTES)


async def _stream(scope, receive, send) -> None:
    """An event stream; when the server stops (Ctrl-C) and cancels it, it ends its response instead of raising."""
    started = False

    async def tracked(message) -> None:
        nonlocal started
        started = started or message["type"] == "http.response.start"
        await send(message)

    try:
        await sockets(scope, receive, tracked)
    except asyncio.CancelledError:
        if not started:
            raise
        await send({"type": "http.response.body", "body": b""})  # uvicorn logged a traceback per open stream


async def application(scope, receive, send):
    kind = scope["type"]
    if kind == "http":
        if scope["path"].startswith(ASGI_PREFIXES):
            return await _stream(scope, receive, send)
        broadcaster.bind_loop(asyncio.get_running_loop())  # live events go out on this loop, to its listeners
        return await wsgi_threads(scope, receive, send)
    if kind == "lifespan":
        return await _lifespan(receive, send)
    return await sockets(scope, receive, send)
