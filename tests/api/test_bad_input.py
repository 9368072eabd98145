"""Bad input never reaches a 500: each class the fuzzers found answers a clear 4xx in the API's error shape."""

import json

import pytest
from channels.layers import BaseChannelLayer
from django.test import Client

from api.broadcast import events_group, metrics_group
from api.parsers import InvalidJSON, loads
from catalogue import services
from tests import factories

pytestmark = pytest.mark.django_db

DEEP = "[" * 10_000 + "]" * 10_000
JSON_ROUTES = [
    "/api/v1/models/taxi/predict",
    "/api/v1/models/taxi/learn",
    "/api/v1/models/taxi/predict-many",
    "/api/v1/models/taxi/snapshot",
    "/api/v1/models/",
    "/api/v1/models/taxi/versions/1/promote",
    "/api/v1/alert-rules/",
    "/api/init",
    "/api/predict",
    "/api/learn",
]


@pytest.fixture
def live():
    model = factories.MLModelFactory(name="taxi")
    services.deployment_promote(version=factories.ModelVersionFactory(model=model))
    return model


def assert_error(response, http_status: int = 400, field: str | None = None) -> dict:
    assert response.status_code == http_status, response.content
    error = response.json()["error"]
    assert set(error) >= {"code", "message", "field"}
    if field is not None:
        assert error["field"] == field
    return error


# --- NUL characters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", "/api/v1/models/%00/predict"),
        ("get", "/api/model/%00"),
        ("get", "/api/metrics?model=%00"),
        ("get", "/api/v1/alert-rules/?model=a%00b"),
        ("get", "/api/v1/models/taxi/versions/?x=%C0%00"),
    ],
)
def test_a_nul_in_the_path_or_query_string_is_a_400(maintainer_client, method, url):
    error = assert_error(getattr(maintainer_client, method)(url, {}, format="json"))
    assert "NUL" in error["message"]


def test_a_nul_in_a_page_path_is_a_plain_400(client):
    assert client.get("/models/%00/").status_code == 400


@pytest.mark.parametrize("escape", ["\\u0000", "\\ud800"])
def test_a_nul_or_lone_surrogate_in_a_json_string_is_a_400(maintainer_client, live, escape):
    body = f'{{"model": "a{escape}", "features": {{"x": 1}}}}'
    assert_error(maintainer_client.post("/api/predict", body, content_type="application/json"))
    body = f'{{"features": {{"k{escape}": 1}}}}'
    assert_error(maintainer_client.post("/api/v1/models/taxi/predict", body, content_type="application/json"))


def test_a_nul_in_a_form_field_is_a_400(maintainer_client):
    assert_error(maintainer_client.post("/api/v1/models/", {"name": "a\x00", "flavor": "regression"}))


def test_an_escaped_backslash_before_u0000_is_not_a_nul(maintainer_client, live):
    body = '{"features": {"x": 1}, "id": "a\\\\u0000"}'
    response = maintainer_client.post("/api/v1/models/taxi/predict", body, content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["id"] == "a\\u0000"


# --- deep nesting ------------------------------------------------------------------------------


@pytest.mark.parametrize("url", JSON_ROUTES)
def test_json_nested_deeper_than_the_limit_is_a_400_on_every_json_route(maintainer_client, live, url):
    error = assert_error(maintainer_client.post(url, DEEP, content_type="application/json"))
    assert "RHYTHMIC_MAX_JSON_DEPTH" in error["message"]


def test_the_depth_limit_is_a_setting_and_brackets_in_strings_do_not_count(settings):
    settings.RHYTHMIC_MAX_JSON_DEPTH = 3
    assert loads('[[["[[[[[[{{{{"]]]') == [[["[[[[[[{{{{"]]]
    assert loads('{"a": {"b": {"c": "\\"]]]]"}}}') == {"a": {"b": {"c": '"]]]]'}}}
    with pytest.raises(InvalidJSON, match="deeper than 3"):
        loads("[[[[1]]]]")


def test_json_within_the_depth_limit_is_decoded_as_json_loads_does():
    text = json.dumps({"a": [1, 2.5, "x", None, True, {"b": [[]]}]})
    assert loads(text) == json.loads(text)


def test_json_nesting_in_a_query_parameter_is_a_400(maintainer_client, live):
    response = maintainer_client.post(
        "/api/v1/models/taxi/versions/?metadata=" + "%5B" * 5000, b"x", content_type="application/octet-stream"
    )
    assert_error(response, field="metadata")


# --- wrong types and out-of-range numbers ------------------------------------------------------


@pytest.mark.parametrize("flavor", [[], {}, 5, None])
def test_chantilly_init_with_a_flavor_that_is_not_a_string_is_a_400(maintainer_client, flavor):
    assert_error(maintainer_client.post("/api/init", {"flavor": flavor}, format="json"), field="flavor")


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/models/",
        "/api/v1/locations/",
        "/api/v1/alerts/",
        "/api/v1/alert-rules/",
        "/api/v1/models/taxi/versions/",
    ],
)
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=" + "9" * 40, "limit"),
        ("offset=-92", "offset"),
        ("offset=" + "9" * 40, "offset"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("offset=%E2%91%A0", "offset"),  # a digit to str.isdigit, not to int()
    ],
)
def test_a_limit_or_offset_out_of_range_is_a_400(maintainer_client, live, url, query, field):
    assert_error(maintainer_client.get(f"{url}?{query}"), field=field)


def test_a_limit_and_offset_in_range_page_the_list(maintainer_client, live):
    factories.MLModelFactory(name="zebra")
    response = maintainer_client.get("/api/v1/models/?limit=1&offset=1")
    assert response.status_code == 200
    assert [model["name"] for model in response.json()["results"]] == ["zebra"]


@pytest.mark.parametrize("url", ["/api/v1/models/taxi/predict", "/api/predict"])
def test_an_integer_id_beyond_64_bits_is_a_400(regression_workspace, url):
    client = regression_workspace
    body = {"features": {"x": 1.0}, "id": int("9" * 300)}
    assert_error(client.post(url, body, format="json"), field="id")
    assert client.post(url, {"features": {"x": 1.0}, "id": 2**63 - 1}, format="json").status_code in (200, 201)


@pytest.fixture
def regression_workspace(maintainer_client, live):
    """The taxi model, and a chantilly workspace whose default model takes predictions too."""
    assert maintainer_client.post("/api/init", {"flavor": "regression"}, format="json").status_code == 201
    response = maintainer_client.post(
        "/api/model", data=factories.artifact_bytes(), content_type="application/octet-stream"
    )
    assert response.status_code == 201, response.content
    return maintainer_client


# --- OPTIONS, unknown routes -------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/api/v1/alert-rules/", "/api/v1/alert-rules/1/", "/api/v1/alerts/", "/api/v1/alerts/1/acknowledge"]
)
def test_options_on_the_monitoring_routes_describes_them(maintainer_client, url):
    response = maintainer_client.options(url)
    assert response.status_code == 200
    assert "application/json" in response.json()["parses"]


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_writing_to_an_unknown_api_route_with_a_session_answers_the_json_404(maintainer, method):
    # Given a browser session (CSRF is enforced for session-authenticated writes)
    client = Client(enforce_csrf_checks=True)
    client.force_login(maintainer)
    # When it writes to a route this version does not have
    response = getattr(client, method)("/api/v2/models/taxi/explain", "{}", content_type="application/json")
    # Then it gets the same JSON 404 as a GET, not the CSRF check's HTML 403
    assert_error(response, 404)
    assert client.get("/api/v2/models/taxi/explain").status_code == 404


def test_a_known_route_still_checks_csrf_for_sessions(maintainer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(maintainer)
    assert client.post("/api/v1/models/", "{}", content_type="application/json").status_code == 403


# --- Channels group names ----------------------------------------------------------------------


@pytest.mark.parametrize("length", [1, 91, 92, 99, 100])
def test_group_names_of_any_model_name_are_valid_for_channels(length):
    name = "m" * length
    for group in (events_group(name), metrics_group(name)):
        assert BaseChannelLayer().require_valid_group_name(group)
    assert events_group(name) != metrics_group(name)


def test_long_model_names_get_distinct_groups():
    assert events_group("a" * 100) != events_group("a" * 99 + "b")
    assert events_group("short") == "events.short"


# --- alert rules -------------------------------------------------------------------------------


@pytest.fixture
def rule(maintainer_client, live) -> int:
    body = {"model": "taxi", "name": "slow", "signal": "latency_p99", "comparison": ">", "threshold": 1.0}
    response = maintainer_client.post("/api/v1/alert-rules/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


@pytest.mark.parametrize("key", ["rule", "model", "created_by"])
def test_changing_an_alert_rule_with_a_field_it_does_not_have_is_a_400(maintainer_client, rule, key):
    response = maintainer_client.patch(f"/api/v1/alert-rules/{rule}/", {key: 1}, format="json")
    assert_error(response, field=key)


def test_an_alert_rule_id_beyond_64_bits_is_a_404(maintainer_client):
    assert_error(maintainer_client.get("/api/v1/alert-rules/" + "9" * 300 + "/"), 404)
    assert_error(maintainer_client.post("/api/v1/alerts/" + "9" * 300 + "/acknowledge"), 404)


# --- metric history ----------------------------------------------------------------------------


def test_a_since_with_an_offset_postgres_refuses_is_read_in_utc(maintainer_client, live):
    # An offset of -17:49 is valid ISO 8601; PostgreSQL refuses offsets beyond 15:59 (found by schemathesis)
    response = maintainer_client.get("/api/v1/models/taxi/metrics/history?since=0615-02-11T03%3A21%3A43-17%3A49")
    assert response.status_code == 200, response.content
    assert response.json()["since"] == "0615-02-11T21:10:43+00:00"


def test_a_since_before_year_one_in_utc_is_a_400(maintainer_client, live):
    response = maintainer_client.get("/api/v1/models/taxi/metrics/history?since=0001-01-01T00%3A00%3A00%2B05%3A00")
    assert_error(response, field="since")
