"""chantilly's server-sent event routes, GET /api/stream/events and /api/stream/metrics, over the channel layer.

Async views: each open stream is one coroutine on the server's event loop, not a worker, so they must be
served by daphne (ASGI). Under a WSGI server a stream would hold a whole worker for as long as it is open.
"""

import asyncio
import json
import math
from contextlib import aclosing

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import AuthenticationFailed, Throttled

import serving
from api.authentication import CachedTokenAuthentication
from api.broadcast import ALL_EVENTS, events_group, metrics_group
from api.errors import error_response, json_error
from catalogue import selectors
from catalogue.errors import Conflict, NotFound, RhythmicError, error_body
from serving import compat

CONNECTED = object()  # yielded once the channel has joined its groups
HEARTBEAT = ": ping\n\n"  # a comment line: SSE clients ignore it, proxies see traffic


# --- the views -----------------------------------------------------------------------------------


@csrf_exempt  # read-only: any other method gets a 405 in the API's shape, not a CSRF page
async def stream_events(request):
    """chantilly's event stream: ``event: predict|learn`` then ``data: {model, features, prediction[, ground_truth]}``.

    Of ``?model=`` (any catalogue model), else of the workspace's default model, else of every model. Other
    events (deploy, validation, drift, alert...) come with their own event name and the whole event as data.
    """
    refused = await _refuse(request)
    if refused is not None:
        return refused
    try:
        name = await sync_to_async(_stream_model)(request.GET.get("model"), required=False)
    except RhythmicError as exc:
        return _error(exc)
    groups = [events_group(name)] if name else [ALL_EVENTS]
    return _event_stream_response(_events(groups))


@csrf_exempt
async def stream_metrics(request):
    """chantilly's metric stream: ``data: {MetricName: value}`` of the production version, at each change.

    Of ``?model=`` (any catalogue model), else of the workspace's default model. The current values come first.
    """
    refused = await _refuse(request)
    if refused is not None:
        return refused
    try:
        name = await sync_to_async(_stream_model)(request.GET.get("model"), required=True)
    except RhythmicError as exc:
        return _error(exc)
    return _event_stream_response(_metrics(name))


# --- checks --------------------------------------------------------------------------------------


async def _refuse(request) -> JsonResponse | None:
    """405 for anything but GET, 501 under WSGI, 401 without a valid token or session; None to start."""
    if not isinstance(request, ASGIRequest):
        # Under WSGI Django would collect the endless stream into a list: the worker would hang for good.
        return json_error(
            "needs_asgi",
            "server-sent events are served by the ASGI server (daphne) only: route /api/stream/ to it",
            501,
        )
    if request.method != "GET":
        response = json_error(
            "method_not_allowed", f'method "{request.method}" not allowed: streams are read with GET', 405
        )
        response["Allow"] = "GET"
        return response
    try:
        # The token header first (None without one), as the REST API does; then the session.
        found = await sync_to_async(CachedTokenAuthentication().authenticate)(request)
    except AuthenticationFailed as exc:
        return _unauthorized("authentication_failed", str(exc.detail))
    except Throttled as exc:  # this address sent too many bad tokens
        response = json_error("throttled", str(exc.detail), 429)
        response["Retry-After"] = str(math.ceil(exc.wait or 1))
        return response
    user = found[0] if found else await request.auser()
    if not user.is_authenticated:
        return _unauthorized(
            "not_authenticated",
            "Authentication credentials were not provided: send 'Authorization: Token <key>' or log in first.",
        )
    return None


def _unauthorized(code: str, message: str) -> JsonResponse:
    response = json_error(code, message, 401)
    response["WWW-Authenticate"] = "Token"
    return response


def _error(exc: RhythmicError) -> JsonResponse:
    return error_response(exc)


def _stream_model(name, *, required: bool) -> str | None:
    """The model a stream follows: the named one, else the workspace's default, else None (every model).

    ``?model=`` may name any catalogue model, not only one uploaded through ``/api/model``: models made through
    the REST API, the CLI or the pages are streamed too. ``required``: no default is a 404 saying what to name.
    """
    if name is not None:
        if selectors.model_get(name=name) is not None:
            return name
        return compat.resolve(name)  # not found: chantilly's 404 (or 400 for a name that is not a string)
    default = compat.workspace().default_model
    if default is not None or not required:
        return default.name if default else None
    names = list(selectors.model_list().order_by("name").values_list("name", flat=True)[:5])
    if not names:
        return compat.resolve()  # nothing uploaded at all: chantilly's own 404
    raise NotFound(
        "no default model (POST the dill bytes of a model to /api/model makes one): name a catalogue model "
        f"with ?model=<name>, e.g. ?model={names[0]} (models: {', '.join(names)}{', ...' if len(names) == 5 else ''})",
        field="model",
        code="no_default_model",
    )


# --- streams -------------------------------------------------------------------------------------


def _event_stream_response(content) -> StreamingHttpResponse:
    response = StreamingHttpResponse(content, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


async def _subscription(groups: list[str]):
    """Join a new channel to ``groups``; yield CONNECTED, then each event, or None when a heartbeat is due.

    The channel leaves its groups when the generator is closed or cancelled (the client went away).
    """
    layer = get_channel_layer()
    channel = await layer.new_channel()
    pending: asyncio.Future | None = None
    try:
        for group in groups:
            await layer.group_add(group, channel)
        yield CONNECTED
        while True:
            if pending is None:
                pending = asyncio.ensure_future(layer.receive(channel))
            done, _ = await asyncio.wait({pending}, timeout=settings.RHYTHMIC_SSE_HEARTBEAT_SECONDS)
            if not done:
                yield None
                continue
            message, pending = pending.result(), None
            yield message["event"]
    finally:
        if pending is not None:
            pending.cancel()
        for group in groups:
            await layer.group_discard(group, channel)


def _sse(data, event: str | None = None) -> str:
    """One message in chantilly's format (its ``format_sse``)."""
    message = f"data: {json.dumps(data)}\n\n"
    return f"event: {event}\n{message}" if event else message


def _chantilly_event(event: dict) -> str:
    kind = str(event.get("type", "event")).replace("\n", " ")
    if kind == "predict":
        data = {key: event.get(key) for key in ("model", "features", "prediction")}
    elif kind == "learn":
        data = {key: event.get(key) for key in ("model", "features", "prediction", "ground_truth")}
    else:
        data = event
    return _sse(data, kind)


async def _events(groups: list[str]):
    async with aclosing(_subscription(groups)) as events:
        async for event in events:
            if event is CONNECTED:
                yield ": connected\n\n"  # also makes the server send the headers now
            elif event is None:
                yield HEARTBEAT
            else:
                yield _chantilly_event(event)


@sync_to_async
def _production_metrics(name: str) -> tuple[int | None, dict | None]:
    try:
        current = serving.metrics(model=name)
    except Conflict:  # nothing in production (retired): wait for the next deploy
        return None, None
    return current["version"], current["metrics"]


async def _metrics(name: str):
    # Pushes carry every version that learned; the production one is tracked through deploy events.
    production = None
    async with aclosing(_subscription([metrics_group(name), events_group(name)])) as events:
        async for event in events:
            if event is None:
                yield HEARTBEAT
                continue
            if event is CONNECTED or event.get("type") == "deploy":
                if event is CONNECTED:
                    yield ": connected\n\n"
                try:
                    production, values = await _production_metrics(name)
                except NotFound as exc:  # the model was deleted while the stream was open
                    yield _sse(error_body(exc), "error")
                    return
                if values is not None:
                    yield _sse(values)
            elif event.get("type") == "metrics":
                values = event.get("versions", {}).get(str(production))
                if values is not None:
                    yield _sse(values)
