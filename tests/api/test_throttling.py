"""Throttling: bad tokens and failed logins are limited per client, API rates are configurable, and every
refusal is a 429 with Retry-After (in the API's error shape on the API)."""

import json
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.db import connections
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests import factories

pytestmark = pytest.mark.django_db

BAD = "Token 0000000000000000000000000000000000000000"


def get_models(client: APIClient, authorization: str, **extra):
    return client.get("/api/v1/models/", HTTP_AUTHORIZATION=authorization, **extra)


def assert_throttled(response) -> None:
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert response.json()["error"]["code"] == "throttled"


def test_an_address_that_sent_too_many_bad_tokens_is_refused_with_429_even_with_a_good_one(settings, reader):
    # Given a limit of 3 failed token authentications a minute
    settings.RHYTHMIC_THROTTLE_FAILED_AUTH = "3/min"
    client = APIClient()
    # When an address sends 3 bad tokens, then a fourth, then a valid token it had not used before
    first = [get_models(client, BAD).status_code for _ in range(3)]
    fourth = get_models(client, BAD)
    good = get_models(client, f"Token {Token.objects.create(user=reader).key}")
    # Then the first three are 401 and the rest 429: guessing goes no faster than the rate
    assert first == [401, 401, 401]
    assert_throttled(fourth)
    assert "too many failed authentications" in fourth.json()["error"]["message"]
    assert_throttled(good)


def test_bad_tokens_are_counted_per_client_address(settings):
    settings.RHYTHMIC_THROTTLE_FAILED_AUTH = "2/min"
    client = APIClient()
    for _ in range(2):
        get_models(client, BAD, REMOTE_ADDR="10.0.0.1")
    assert get_models(client, BAD, REMOTE_ADDR="10.0.0.1").status_code == 429
    assert get_models(client, BAD, REMOTE_ADDR="10.0.0.2").status_code == 401


def test_a_forged_forwarded_for_header_does_not_escape_the_count_unless_proxies_are_declared(settings):
    settings.RHYTHMIC_THROTTLE_FAILED_AUTH = "2/min"
    client = APIClient()
    # Without declared proxies, X-Forwarded-For is the client's own writing: ignored
    for i in range(3):
        response = get_models(client, BAD, HTTP_X_FORWARDED_FOR=f"192.0.2.{i}")
    assert response.status_code == 429
    # Behind one proxy, the address it saw is the client's
    settings.RHYTHMIC_NUM_PROXIES = 1
    assert get_models(client, BAD, HTTP_X_FORWARDED_FOR="192.0.2.77").status_code == 401


def test_a_token_the_process_already_checked_is_not_slowed_by_the_failure_count(settings, reader):
    # Given a reader whose token was checked, then a burst of bad tokens from the same address
    settings.RHYTHMIC_THROTTLE_FAILED_AUTH = "1/min"
    client = APIClient()
    token = f"Token {Token.objects.create(user=reader).key}"
    assert get_models(client, token).status_code == 200
    get_models(client, BAD)
    assert get_models(client, BAD).status_code == 429
    # Then the checked token still works from there (no cache lookup on the hot path)
    assert get_models(client, token).status_code == 200


def test_the_user_rate_limits_a_user_and_answers_429_with_retry_after(settings, reader_client):
    settings.RHYTHMIC_THROTTLE_USER = "2/min"
    assert [reader_client.get("/api/v1/models/").status_code for _ in range(2)] == [200, 200]
    assert_throttled(reader_client.get("/api/v1/models/"))


def test_the_anonymous_rate_limits_public_inference(settings, anon_client):
    settings.RHYTHMIC_PUBLIC_INFERENCE = True
    settings.RHYTHMIC_THROTTLE_ANON = "1/min"
    assert anon_client.post("/api/v1/models/nope/predict", {"features": {}}, format="json").status_code == 404
    assert_throttled(anon_client.post("/api/v1/models/nope/predict", {"features": {}}, format="json"))


def test_api_rates_are_off_by_default(reader_client):
    assert {reader_client.get("/api/v1/models/").status_code for _ in range(30)} == {200}


# --- logins ----------------------------------------------------------------------------------------


def login(client: Client, username: str, password: str, path: str = "/accounts/login/"):
    return client.post(path, {"username": username, "password": password})


def test_failed_logins_lock_the_user_out_from_that_address_with_429_and_retry_after(settings, reader):
    # Given a limit of 3 failed logins and a 10-minute cool-off
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=10)
    browser = Client()
    # When a wrong password is tried 3 times
    assert [login(browser, "reader", "wrong").status_code for _ in range(3)][:2] == [200, 200]
    # Then the right password is refused too, with 429 and Retry-After, on the login page and the admin's
    locked = login(browser, "reader", "correct-horse-battery")
    assert locked.status_code == 429
    assert locked["Retry-After"] == "600"
    assert b"too many failed logins" in locked.content
    assert login(browser, "reader", "correct-horse-battery", "/admin/login/").status_code == 429
    # ...while another user may still log in from the same address
    factories.UserFactory(username="other")
    assert login(Client(), "other", "correct-horse-battery").status_code == 302


def test_a_successful_login_resets_the_failure_count(settings, reader):
    settings.AXES_FAILURE_LIMIT = 3
    browser = Client()
    for _ in range(2):
        login(browser, "reader", "wrong")
    assert login(browser, "reader", "correct-horse-battery").status_code == 302
    for _ in range(2):
        login(Client(), "reader", "wrong")
    assert login(Client(), "reader", "correct-horse-battery").status_code == 302


# --- streams ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_stream_refuses_an_address_that_sent_too_many_bad_tokens_with_429(settings, monkeypatch):
    from tests.api.test_compat_sse import Stream

    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)  # ASGI threads close theirs
    settings.RHYTHMIC_THROTTLE_FAILED_AUTH = "1/min"

    async def scenario():
        statuses = []
        for _ in range(2):
            stream = await Stream("/api/stream/events", token="not-a-real-token").open()
            statuses.append((stream.status, stream.headers.get("retry-after"), json.loads(await stream.body())))
        return statuses

    (first, _, _), (second, retry_after, body) = async_to_sync(scenario)()
    assert (first, second) == (401, 429)
    assert int(retry_after) >= 1
    assert body["error"]["code"] == "throttled"
