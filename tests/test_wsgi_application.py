"""The project's WSGI application (rhythmic/handlers.py): token calls take the short middleware chain, the rest
the full one, and both answer alike where they should (headers, limits, guards, errors)."""

import io
import json

import dill
import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from rest_framework.authtoken.models import Token
from river import linear_model, preprocessing

from catalogue import services
from rhythmic.handlers import is_token_call
from rhythmic.wsgi import application
from tests import factories
from tests.conftest import ALL_PERMISSIONS

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    # As Django's test client does: the handler must not close the connection that holds the test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def token(db) -> str:
    user = factories.UserFactory(username="maintainer", permissions=ALL_PERMISSIONS)
    return Token.objects.create(user=user).key


@pytest.fixture
def live(db):
    model = factories.MLModelFactory(name="taxi")
    version = factories.ModelVersionFactory(
        model=model, artifact=dill.dumps(preprocessing.StandardScaler() | linear_model.LinearRegression())
    )
    services.deployment_promote(version=version)
    return model


def call(method: str, path: str, body: bytes = b"", **headers: str) -> tuple[str, dict[str, str], bytes]:
    """(status, headers, body) of one request through rhythmic.wsgi.application."""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json",
        **headers,
    }
    started = {}

    def start_response(status, response_headers, exc_info=None):
        started["status"], started["headers"] = status, dict(response_headers)

    result = application(environ, start_response)
    try:
        content = b"".join(result)
    finally:
        result.close()
    return started["status"], started["headers"], content


def spy_on_chains(monkeypatch) -> list[str]:
    taken = []
    token_chain, full_chain = application._token_chain, application._middleware_chain
    monkeypatch.setattr(application, "_token_chain", lambda request: taken.append("token") or token_chain(request))
    monkeypatch.setattr(application, "_middleware_chain", lambda request: taken.append("full") or full_chain(request))
    return taken


def test_a_token_call_takes_the_short_chain_and_answers_as_the_api_does(token, live, monkeypatch):
    taken = spy_on_chains(monkeypatch)
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    # When a client predicts and learns with a token
    status, headers, body = call("POST", "/api/v1/models/taxi/predict", b'{"features": {"km": 3.0}, "id": 7}', **auth)
    learned = call("POST", "/api/v1/models/taxi/learn", b'{"id": 7, "ground_truth": 12.5}', **auth)
    # Then both ran on the short chain and answered as the REST API does
    assert taken == ["token", "token"]
    assert status == "200 OK"
    assert json.loads(body) == {"model": "taxi", "version": 1, "prediction": 0.0, "state_seq": 0, "id": 7}
    assert learned[0] == "201 Created" and json.loads(learned[2])["seq"] == 1
    # And the security headers are still there, with no session cookie
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert "Set-Cookie" not in headers


def test_the_short_chain_keeps_the_body_cap_and_the_nul_guard(token, live, settings, monkeypatch):
    settings.RHYTHMIC_MAX_JSON_BYTES = 100
    taken = spy_on_chains(monkeypatch)
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    too_big = json.dumps({"features": {"km": 3.0}, "pad": "x" * 200}).encode()
    status, _, body = call("POST", "/api/v1/models/taxi/predict", too_big, **auth)
    assert status.startswith("413") and "RHYTHMIC_MAX_JSON_BYTES" in body.decode()
    status, _, body = call("GET", "/api/v1/models/ta\x00xi/", **auth)  # WSGI paths arrive decoded
    assert status.startswith("400")
    assert taken == ["token", "token"]


def test_a_bad_token_is_refused_on_the_short_chain(live, monkeypatch):
    taken = spy_on_chains(monkeypatch)
    status, _, body = call("POST", "/api/v1/models/taxi/predict", b'{"features": {}}', HTTP_AUTHORIZATION="Token nope")
    assert status.startswith("401")
    assert json.loads(body)["error"]["message"]
    assert taken == ["token"]


def test_calls_with_a_cookie_or_without_a_token_take_the_full_chain(token, live, monkeypatch):
    taken = spy_on_chains(monkeypatch)
    # A browser's call (a cookie, even with a token), an anonymous call and a page all take the full chain
    call("GET", "/api/v1/models/", HTTP_AUTHORIZATION=f"Token {token}", HTTP_COOKIE="sessionid=x")
    status, _, _ = call("GET", "/api/v1/models/")
    assert status.startswith("401") or status.startswith("403")
    call("GET", "/livez", HTTP_AUTHORIZATION=f"Token {token}")
    assert taken == ["full", "full", "full"]


def test_a_session_login_still_needs_its_csrf_token(live):
    # The full chain still runs CSRF for a session login: a POST with the session cookie and no CSRF token
    user = factories.UserFactory(username="alice", permissions=ALL_PERMISSIONS)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    session = client.cookies["sessionid"].value
    status, _, body = call(
        "POST", "/api/v1/models/taxi/predict", b'{"features": {"km": 1.0}}', HTTP_COOKIE=f"sessionid={session}"
    )
    assert status.startswith("403")
    assert "CSRF" in body.decode()


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"HTTP_AUTHORIZATION": "Token abc", "PATH_INFO": "/api/predict"}, True),
        ({"HTTP_AUTHORIZATION": "token abc", "PATH_INFO": "/api/v1/models/"}, True),
        ({"HTTP_AUTHORIZATION": "Token abc", "PATH_INFO": "/v2/models/m/infer"}, True),
        ({"HTTP_AUTHORIZATION": "Token abc", "PATH_INFO": "/api/v1/models/", "HTTP_COOKIE": "a=b"}, False),
        ({"HTTP_AUTHORIZATION": "Bearer abc", "PATH_INFO": "/api/v1/models/"}, False),
        ({"PATH_INFO": "/api/v1/models/"}, False),
        ({"HTTP_AUTHORIZATION": "Token abc", "PATH_INFO": "/models/"}, False),
        ({"HTTP_AUTHORIZATION": "Token abc", "PATH_INFO": "/admin/"}, False),
    ],
)
def test_which_calls_are_token_calls(environ, expected):
    assert is_token_call(environ) is expected


def test_a_path_is_matched_against_the_url_patterns_once_and_a_miss_every_time(token, live, monkeypatch):
    from django.urls import get_resolver

    resolver = get_resolver()
    matched = []
    resolve = resolver.resolve
    monkeypatch.setattr(resolver, "resolve", lambda path: matched.append(path) or resolve(path))
    monkeypatch.setattr(application, "_resolved", {})
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    # When a client predicts three times and calls a route that does not exist twice
    answers = [call("POST", "/api/v1/models/taxi/predict", b'{"features": {"km": 3.0}}', **auth) for _ in range(3)]
    missing = [call("GET", "/nowhere", **auth)[0] for _ in range(2)]  # under /api/ a catch-all view answers 404
    # Then the predict's path was matched once and answered every time; the miss was matched (and refused) each time
    # (CommonMiddleware also tries it with a slash)
    assert [status for status, _, _ in answers] == ["200 OK"] * 3
    assert missing == ["404 Not Found"] * 2
    assert matched.count("/api/v1/models/taxi/predict") == 1
    assert matched.count("/nowhere") >= 2 and "/nowhere" not in application._resolved


def test_the_remembered_matches_are_bounded_and_forgotten_when_the_urlconf_changes(token, live, monkeypatch):
    monkeypatch.setattr("rhythmic.handlers.RESOLVED_PATHS", 2)
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    for name in ("a", "b", "c"):
        call("GET", f"/api/v1/models/{name}/", **auth)
    # A full memory starts afresh: never more than the bound
    assert len(application._resolved) <= 2
    # A long path is matched every time, never kept
    call("GET", "/api/v1/models/" + "x" * 300 + "/", **auth)
    assert all(len(path) <= 256 for path in application._resolved)
    # A new URLconf (a test's override_settings) forgets every match made with the old one
    application._resolver = object()
    call("GET", "/api/v1/models/taxi/", **auth)
    assert list(application._resolved) == ["/api/v1/models/taxi/"]
