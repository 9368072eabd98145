"""Django's WSGI handler with a short middleware chain for API calls that carry a token and no cookie.

Such a call needs none of what the browser middleware gives: no session, no CSRF token (DRF checks CSRF only
for session logins), no messages, no login lockout (axes guards the login form), no static files. Running the
whole chain cost a tenth of a predict + learn pair (bench/README.md). The short chain keeps everything that
protects the server: the body cap, the security headers, the NUL guard, and the frame header. Any call with a
cookie, or without a token, or outside ``/api/`` and ``/v2/``, takes the full chain, so browsers see no difference.
"""

from django.conf import settings
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.urls import get_resolver, set_urlconf
from django.utils.log import log_response
from django.utils.module_loading import import_string

#: The middleware of settings.MIDDLEWARE that a token call still goes through, in their order there.
KEPT = frozenset(
    {
        "api.limits.BodyLimitMiddleware",
        "django.middleware.security.SecurityMiddleware",
        "api.guards.RefuseNulMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    }
)
#: Token calls to paths under these prefixes take the short chain: the REST and chantilly routes, the OIP.
API_PREFIXES = ("/api/", "/v2/")
#: Paths whose view is remembered (resolve_request); past this many distinct paths the memory starts afresh.
RESOLVED_PATHS = 4096
#: Longer paths are matched every time: the memory stays under RESOLVED_PATHS x this many characters.
RESOLVED_PATH_CHARS = 256


def is_token_call(environ: dict) -> bool:
    """An API call that authenticates with ``Authorization: Token …`` and sends no cookie."""
    return (
        "HTTP_COOKIE" not in environ
        and environ.get("HTTP_AUTHORIZATION", "")[:6].lower() == "token "
        and environ.get("PATH_INFO", "").startswith(API_PREFIXES)
    )


class WSGIApplication(WSGIHandler):
    """The project's WSGI application (rhythmic/wsgi.py): Django's, with the short chain for token calls."""

    _resolver = None
    _resolved: dict = {}

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async)
        # The short chain wraps the same innermost handler; none of the kept middleware has view, template or
        # exception hooks, so the hook lists the full chain filled serve both chains.
        handler = convert_exception_to_response(self._get_response)
        for path in reversed(settings.MIDDLEWARE):
            if path in KEPT:
                handler = convert_exception_to_response(import_string(path)(handler))
        self._token_chain = handler

    def resolve_request(self, request):
        """Django's, remembering each path's match: a client calls the same few routes again and again, and
        matching a path against the URL patterns was a twentieth of a predict. Only the default URLconf's
        matches are kept (a request with its own ``urlconf`` takes Django's way); a path that matches nothing
        is not kept (its 404 is raised every time), nor one longer than RESOLVED_PATH_CHARS."""
        if hasattr(request, "urlconf"):
            return super().resolve_request(request)
        resolver = get_resolver()
        if self._resolver is not resolver:  # the URLconf changed (a test's override): forget every match
            self._resolver, self._resolved = resolver, {}
        path = request.path_info
        match = self._resolved.get(path)
        if match is None:
            match = resolver.resolve(path)
            if len(path) <= RESOLVED_PATH_CHARS:
                if len(self._resolved) >= RESOLVED_PATHS:
                    self._resolved = {}
                self._resolved[path] = match
        request.resolver_match = match
        return match

    def __call__(self, environ, start_response):
        environ["rhythmic.token_call"] = is_token_call(environ)
        return super().__call__(environ, start_response)

    def get_response(self, request):
        if not request.META.get("rhythmic.token_call"):
            return super().get_response(request)
        # BaseHandler.get_response, on the short chain.
        set_urlconf(settings.ROOT_URLCONF)
        response = self._token_chain(request)
        response._resource_closers.append(request.close)
        if response.status_code >= 400:
            log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
        return response
