"""One error shape for the whole API: ``{"error": {"code", "message", "field", "details"?}}``."""

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from catalogue.errors import RhythmicError


def error_body(code: str, message: str, field: str | None = None, details=None) -> dict:
    error = {"code": code, "message": message, "field": field}
    if details is not None:
        error["details"] = details
    return {"error": error}


def _first_message(detail) -> tuple[str, str | None]:
    """The first human message in DRF's nested validation detail, and the field it concerns."""
    if isinstance(detail, dict):
        for field, value in detail.items():
            message, inner = _first_message(value)
            name = field if field != "non_field_errors" else None
            return (f"{name}: {message}" if name else message), (inner or name)
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail), None


def exception_handler(exc, context):
    if isinstance(exc, RhythmicError):
        return Response(error_body(exc.code, exc.message, exc.field), status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "not found")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        message, field = _first_message(exc.detail)
        response.data = error_body("invalid", message, field, details=exc.detail)
    else:
        code = getattr(exc, "default_code", "error")
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        response.data = error_body(code, str(detail))
    return response


def json_error(code: str, message: str, http_status: int = status.HTTP_400_BAD_REQUEST) -> JsonResponse:
    """The same shape for plain Django views (404/500 handlers, non-DRF routes)."""
    return JsonResponse(error_body(code, message), status=http_status)


@csrf_exempt  # else a POST, PUT or DELETE would get the CSRF check's HTML 403 instead of this 404
def api_not_found(request, path: str = "") -> JsonResponse:
    """Unknown routes under /api/ answer in the API's shape, not with an HTML page, whatever the method."""
    return json_error("not_found", f"no API route {request.method} {request.path}; see /api/docs/", 404)


def server_error(request) -> JsonResponse:
    """handler500: JSON under /api/, Django's page elsewhere. Reached only by a bug, never by bad input."""
    if request.path.startswith("/api/"):
        return json_error("server_error", "the server failed; the error was logged", 500)
    from django.views.defaults import server_error as page

    return page(request)
