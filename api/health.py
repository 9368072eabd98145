"""Liveness and readiness for load balancers and process managers."""

from django.db import connection
from django.http import JsonResponse


def livez(request) -> JsonResponse:
    """200 while the process runs; touches nothing else (also the floor the benchmarks compare with)."""
    return JsonResponse({"status": "ok"})


def healthz(request) -> JsonResponse:
    """200 when this process can reach its database, 503 otherwise."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any database failure means not ready
        return JsonResponse({"status": "unavailable", "error": str(exc)}, status=503)
    return JsonResponse({"status": "ok"})
