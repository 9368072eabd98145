"""Python client for a Rhythmic server: REST calls, a streaming WebSocket session, typed errors.

Needs only ``requests`` and ``websockets``; it never imports Django or the server's code.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

__all__ = [
    "Busy",
    "Client",
    "Conflict",
    "InvalidInput",
    "NotFound",
    "PermissionDenied",
    "RhythmicError",
    "Stream",
    "TooLarge",
    "Unauthorized",
]
__version__ = "0.1.0"


# --- errors -------------------------------------------------------------------------------------


class RhythmicError(Exception):
    """The server refused a request; ``code``, ``message`` and ``field`` are the server's own."""

    def __init__(self, message: str, *, code: str = "error", field: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field
        self.status = status

    def __str__(self) -> str:
        where = f" (field: {self.field})" if self.field else ""
        return f"{self.code}: {self.message}{where}"


class InvalidInput(RhythmicError):
    """400: the input is malformed or does not fit the model."""


class TooLarge(InvalidInput):
    """413: the body (an artifact, a batch) is over the server's limit."""


class Unauthorized(RhythmicError):
    """401 (or WebSocket close 4401): no token, or a wrong one."""


class PermissionDenied(RhythmicError):
    """403 (or WebSocket close 4403): the token's user lacks the permission the message names."""


class NotFound(RhythmicError):
    """404: no such model, version or pending prediction id."""


class Conflict(RhythmicError):
    """409: the input is fine but the current state forbids it (an id learned twice, a failed version...)."""


class Busy(RhythmicError):
    """The streaming connection already holds as many frames as the server allows; send fewer at once."""


BY_STATUS = {400: InvalidInput, 401: Unauthorized, 403: PermissionDenied, 404: NotFound, 409: Conflict, 413: TooLarge}
BY_CODE = {
    "not_found": NotFound,
    "conflict": Conflict,
    "predict_only": Conflict,
    "permission_denied": PermissionDenied,
    "not_authenticated": Unauthorized,
    "authentication_failed": Unauthorized,
    "too_large": TooLarge,
    "busy": Busy,
}


def error_from(body: Any, status: int | None = None) -> RhythmicError:
    """The typed error for an ``{"error": {"code", "message", "field"}}`` body (or anything else)."""
    found = body.get("error") if isinstance(body, dict) else None
    if not isinstance(found, dict):
        text = body if isinstance(body, str) else json.dumps(body)
        return RhythmicError(f"HTTP {status}: {text[:500]}", code=f"http_{status}", status=status)
    code = found.get("code") or "error"
    kind = BY_STATUS.get(status) or BY_CODE.get(code) or (InvalidInput if status is None else RhythmicError)
    return kind(found.get("message") or code, code=code, field=found.get("field"), status=status)


# --- REST ---------------------------------------------------------------------------------------


def _predict_body(features: Any, id: Any, horizon: int | None) -> dict:
    body: dict = {}
    if features is not None:
        body["features"] = features
    if id is not None:
        body["id"] = id
    if horizon is not None:
        body["horizon"] = horizon
    return body


def _rank_body(user: Any, items: list, context: dict | None) -> dict:
    body: dict = {"user": user, "items": list(items)}
    if context is not None:
        body["context"] = context
    return body


def _q(name: str) -> str:
    return quote(str(name), safe="")


class Client:
    """``Client("http://127.0.0.1:8000", token)``: one keep-alive HTTP session, plus WebSocket streams."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Token {token}"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs) -> Any:
        url = path if path.startswith("http") else f"{self.url}{path}"
        response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        if response.status_code == 204:
            return None
        try:
            body = response.json()
        except ValueError:
            body = response.text
        if response.status_code >= 400:
            raise error_from(body, response.status_code)
        return body

    # inference
    def predict(
        self, model: str, features: dict | list | None = None, *, id: Any = None, horizon: int | None = None
    ) -> dict:
        """The production version's prediction; with an ``id`` the server keeps it for a later learn. A
        forecaster forecasts ``horizon`` steps (``features``: one dict per step, or none)."""
        return self._call("POST", f"/api/v1/models/{_q(model)}/predict", json=_predict_body(features, id, horizon))

    def rank(self, model: str, user: Any, items: list, *, context: dict | None = None) -> dict:
        """A recommender's ``items`` for ``user``, best first (``answer["items"]``)."""
        return self._call("POST", f"/api/v1/models/{_q(model)}/rank", json=_rank_body(user, items, context))

    def learn(self, model: str, ground_truth: Any = None, *, id: Any = None, features: dict | None = None) -> dict:
        """Learn a ground truth, by the ``id`` given to predict or with the ``features``."""
        body: dict = {"ground_truth": ground_truth}
        if id is not None:
            body["id"] = id
        if features is not None:
            body["features"] = features
        return self._call("POST", f"/api/v1/models/{_q(model)}/learn", json=body)

    def predict_many(self, model: str, items: list[dict]) -> list[dict]:
        """Predict ``[{"features", "id"?}, ...]``; one result per item (a failed item holds an ``error``)."""
        return self._call("POST", f"/api/v1/models/{_q(model)}/predict-many", json=list(items))["results"]

    def learn_many(self, model: str, items: list[dict]) -> list[dict]:
        """Learn ``[{"ground_truth", "id"?, "features"?}, ...]`` in one transaction; one result per item."""
        return self._call("POST", f"/api/v1/models/{_q(model)}/learn-many", json=list(items))["results"]

    def metrics(self, model: str, *, version: int | None = None) -> dict:
        params = {"version": version} if version is not None else None
        return self._call("GET", f"/api/v1/models/{_q(model)}/metrics", params=params)

    # catalogue
    def models(self) -> list[dict]:
        """Every model of the catalogue (all pages)."""
        found: list[dict] = []
        page: str | None = "/api/v1/models/"
        while page:
            body = self._call("GET", page)
            found += body["results"]
            page = body.get("next")
        return found

    def model(self, name: str) -> dict:
        return self._call("GET", f"/api/v1/models/{_q(name)}/")

    def create_model(self, name: str, flavor: str, **fields: Any) -> dict:
        """Create a model (fields: description, metadata, location)."""
        return self._call("POST", "/api/v1/models/", json={"name": name, "flavor": flavor, **fields})

    def upload(
        self,
        name: str,
        path_or_bytes: str | os.PathLike | bytes,
        *,
        format: str | None = None,
        message: str = "",
        **params: Any,
    ) -> dict:
        """Upload an artifact as the model's next version; returns the version (its ``number``, ``status``...)."""
        data = (
            bytes(path_or_bytes) if isinstance(path_or_bytes, bytes | bytearray) else Path(path_or_bytes).read_bytes()
        )
        query = {key: value for key, value in {"format": format, "message": message, **params}.items() if value}
        for key, value in query.items():
            if isinstance(value, dict):
                query[key] = json.dumps(value)
        return self._call(
            "POST",
            f"/api/v1/models/{_q(name)}/versions/",
            params=query,
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )

    def promote(self, name: str, version: int, *, note: str = "") -> dict:
        """Put ``version`` in production; returns the deployment record."""
        return self._call("POST", f"/api/v1/models/{_q(name)}/versions/{int(version)}/promote", json={"note": note})

    def rollback(self, name: str, *, note: str = "") -> dict:
        """Go back to the version in production before the current one; returns the deployment record."""
        return self._call("POST", f"/api/v1/models/{_q(name)}/rollback", json={"note": note})

    # streaming
    def stream(self, model: str, *, window: int = 8, batch: int = 500, **connect_options: Any) -> Stream:
        """A WebSocket session on ``model``: ``with client.stream("taxi") as s: s.predict(...)``."""
        # The server checks a WebSocket's Origin against its allowed hosts (as for browsers): send its own.
        connect_options.setdefault("origin", self.origin())
        url = self.ws_url(f"/ws/models/{_q(model)}/infer/")
        return Stream(url, self.token, window=window, batch=batch, **connect_options)

    def origin(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    def ws_url(self, path: str) -> str:
        parts = urlsplit(self.url)
        scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
        return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + path, "", ""))


# --- streaming ----------------------------------------------------------------------------------

CLOSE_ERRORS = {
    4401: (Unauthorized, "the server wants a valid token: Client(url, token=...)"),
    4403: (PermissionDenied, "predict and learn need the catalogue.infer_mlmodel permission"),
}


class Stream:
    """A streaming inference session: one WebSocket, answers in the order messages were sent.

    ``window`` frames at most are in flight (keep it under the server's RHYTHMIC_WS_MAX_INFLIGHT, 64 by
    default); ``send_many`` packs ``batch`` messages per frame.
    """

    def __init__(self, url: str, token: str | None, *, window: int = 8, batch: int = 500, **connect_options: Any):
        self.url = url
        self.token = token
        self.window = max(1, window)
        self.batch = max(1, batch)
        self.connect_options = {"compression": None, "max_size": 64 * 1024 * 1024, "proxy": None, **connect_options}
        self.connection = None
        self._rid = 0

    def __enter__(self) -> Stream:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> Stream:
        headers = {"Authorization": f"Token {self.token}"} if self.token else {}
        opening = connect(self.url, additional_headers=headers, **self.connect_options)
        self.connection = opening.__enter__()  # websockets wants connect() used as a context manager
        return self

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def _next_rid(self) -> int:
        self._rid += 1
        return self._rid

    def _send(self, frame: Any) -> None:
        if self.connection is None:
            self.open()
        try:
            self.connection.send(json.dumps(frame, separators=(",", ":")))
        except ConnectionClosed as exc:
            raise self._closed(exc) from None

    def _receive(self) -> Any:
        try:
            return json.loads(self.connection.recv())
        except ConnectionClosed as exc:
            raise self._closed(exc) from None

    @staticmethod
    def _closed(exc: ConnectionClosed) -> RhythmicError:
        code = exc.rcvd.code if exc.rcvd is not None else None
        reason = exc.rcvd.reason if exc.rcvd is not None else ""
        kind, default = CLOSE_ERRORS.get(code, (RhythmicError, f"the server closed the connection (code {code})"))
        return kind(reason or default, code=f"closed_{code}")

    def _one(self, message: dict) -> dict:
        message = {**message, "rid": self._next_rid()}
        self._send(message)
        answer = self._receive()
        if "error" in answer:
            raise error_from(answer)
        return answer

    def predict(self, features: dict | list | None = None, *, id: Any = None, horizon: int | None = None) -> dict:
        return self._one({"op": "predict", **_predict_body(features, id, horizon)})

    def rank(self, user: Any, items: list, *, context: dict | None = None) -> dict:
        return self._one({"op": "rank", **_rank_body(user, items, context)})

    def learn(self, ground_truth: Any = None, *, id: Any = None, features: dict | None = None) -> dict:
        message: dict = {"op": "learn", "ground_truth": ground_truth}
        if id is not None:
            message["id"] = id
        if features is not None:
            message["features"] = features
        return self._one(message)

    def send(self, messages: list[dict]) -> list[dict]:
        """One array frame; its answers, in order (failed messages hold an ``error``, nothing is raised)."""
        return self.send_many(messages, batch=max(1, len(messages)))

    def send_many(self, messages: Iterable[dict], *, batch: int | None = None, window: int | None = None) -> list[dict]:
        """Pipelined: ``batch`` messages per frame, ``window`` frames in flight; answers in order.

        Messages keep their own ``rid``; those without get their position. A failed message's answer holds
        its ``error``; a refused frame (busy) raises Busy.
        """
        batch = batch or self.batch
        window = window or self.window
        frames: list[list[dict]] = []
        current: list[dict] = []
        for position, message in enumerate(messages):
            current.append(message if "rid" in message else {**message, "rid": position})
            if len(current) >= batch:
                frames.append(current)
                current = []
        if current:
            frames.append(current)
        answers: list[dict] = []
        in_flight: deque = deque()
        for frame in frames:
            if len(in_flight) >= window:
                answers += self._collect(in_flight.popleft())
            self._send(frame)
            in_flight.append(frame)
        while in_flight:
            answers += self._collect(in_flight.popleft())
        return answers

    def _collect(self, frame: list[dict]) -> list[dict]:
        answer = self._receive()
        if isinstance(answer, dict):  # the whole frame was refused (busy, too large, not JSON...)
            raise error_from(answer)
        if answer and all(isinstance(a, dict) and a.get("error", {}).get("code") == "busy" for a in answer):
            raise error_from(answer[0])
        return answer
