"""The REST side of the one error shape: DRF's exceptions and Django's 404/500 become catalogue.errors' body."""

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from catalogue.errors import SERVER_ERROR, RhythmicError, error_body, failure, invalid_from_detail


def from_drf(exc: exceptions.APIException, http_status: int) -> RhythmicError:
    """The RhythmicError for one of DRF's exceptions, keeping DRF's code (``not_authenticated``, ``throttled``...)."""
    if isinstance(exc, exceptions.ValidationError):
        return invalid_from_detail(exc.detail)
    return failure(http_status, str(exc.detail), code=getattr(exc, "default_code", None))


def exception_handler(exc, context):
    if isinstance(exc, RhythmicError):
        return Response(error_body(exc), status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "not found")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    response.data = error_body(from_drf(exc, response.status_code))
    return response


def error_response(error: RhythmicError) -> JsonResponse:
    """The one shape for plain Django views (404/500 handlers, SSE routes, middlewares)."""
    return JsonResponse(error_body(error), status=error.status)


def json_error(code: str, message: str, http_status: int = status.HTTP_400_BAD_REQUEST) -> JsonResponse:
    return error_response(failure(http_status, message, code=code))


@csrf_exempt  # else a POST, PUT or DELETE would get the CSRF check's HTML 403 instead of this 404
def api_not_found(request, path: str = "") -> JsonResponse:
    """Unknown routes under /api/ answer in the API's shape, not with an HTML page, whatever the method."""
    return json_error("not_found", f"no API route {request.method} {request.path}; see /api/docs/", 404)


def server_error(request) -> JsonResponse:
    """handler500: JSON under /api/ and /v2/, Django's page elsewhere. Reached only by a bug, never by bad input."""
    if request.path.startswith("/api/"):
        return json_error("server_error", SERVER_ERROR, 500)
    if request.path.startswith("/v2/"):  # the Open Inference Protocol's error shape
        return JsonResponse({"error": SERVER_ERROR}, status=500)
    from django.views.defaults import server_error as page

    return page(request)
