"""The errors the core raises, and the one error body every interface sends for them.

``error_body`` is the only place that builds ``{"error": {"code", "message", "field", "details"?}}``:
REST, chantilly routes, batch items and WebSocket frames all call it (through ``failure`` and
``invalid_from_detail`` for the errors that do not start as a RhythmicError: 404, 405, 413, 429, 500...).
"""

from typing import Any


class RhythmicError(Exception):
    """A request the core refuses, with a message that says what to fix."""

    status = 400
    code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        status: int | None = None,
        details: Any = None,
    ):
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details
        if code:
            self.code = code
        if status:
            self.status = status


class InvalidInput(RhythmicError):
    """The input is malformed or does not fit the model."""


class NotFound(RhythmicError):
    status = 404
    code = "not_found"


class UnknownModel(NotFound):
    """No model has the requested name: the name comes from the client, so it must not become a label."""


class WrongLocation(RhythmicError):
    """The model is deployed to another location than the one this process serves (RHYTHMIC_LOCATION)."""

    status = 421  # Misdirected Request: the load balancer should send it to that location's processes
    code = "wrong_location"


class Conflict(RhythmicError):
    """The input is fine but the current state forbids it (e.g. promoting a version that failed validation)."""

    status = 409
    code = "conflict"


class TooLarge(RhythmicError):
    status = 413
    code = "too_large"


# --- the one error body ---------------------------------------------------------------------------

#: The code of an error that has only an HTTP status (a route that does not exist, a throttled client...).
CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "throttled",
    500: "server_error",
}
SERVER_ERROR = "the server failed; the error was logged"


def error_body(error: RhythmicError) -> dict:
    """``{"error": {"code", "message", "field", "details"?}}``: the body of every error, on every interface."""
    body = {"code": error.code, "message": error.message, "field": error.field}
    if error.details is not None:
        body["details"] = error.details
    return {"error": body}


def failure(status: int, message: str = SERVER_ERROR, *, code: str | None = None) -> RhythmicError:
    """The error of a generic failure known by its HTTP status (404, 405, 413, 429, 500...)."""
    return RhythmicError(message, status=status, code=code or CODES.get(status, "error"))


def invalid_from_detail(detail: Any) -> InvalidInput:
    """A 400 from a nested validation detail (``{"field": ["message", ...]}``, as forms and DRF give them).

    The message is the first one found, prefixed by its field; ``details`` keeps the whole structure.
    """
    message, field = _first_message(detail)
    return InvalidInput(message, field=field, details=detail)


def _first_message(detail: Any) -> tuple[str, str | None]:
    """The first human message in a nested validation detail, and the field it concerns."""
    if isinstance(detail, dict):
        for field, value in detail.items():
            message, inner = _first_message(value)
            name = field if field != "non_field_errors" else None
            return (f"{name}: {message}" if name else message), (inner or name)
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail), None
