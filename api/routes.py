"""Helpers of the REST route lists: a collection route and its slashless twin, which redirects to it."""

from django.http import HttpResponseRedirect
from django.urls import path


def with_slash(request, **kwargs) -> HttpResponseRedirect:
    """308 to the documented route: unlike Django's APPEND_SLASH redirect, a client keeps its method and body."""
    query = request.META.get("QUERY_STRING", "")
    response = HttpResponseRedirect(request.path + "/" + (f"?{query}" if query else ""))
    response.status_code = 308
    return response


def collection(route: str, view, name: str) -> list:
    """``route`` (ending in "/") and its slashless twin, which redirects to it."""
    return [path(route, view.as_view(), name=name), path(route.rstrip("/"), with_slash)]
