"""The OpenAPI schema describes the catalogue routes, and the Swagger docs work offline (no CDN)."""

import re

import pytest
import yaml
from django.conf import settings
from django.contrib.staticfiles import finders
from drf_spectacular.validation import validate_schema

pytestmark = pytest.mark.django_db

CATALOGUE_PATHS = {
    "/api/v1/models/": {"get", "post"},
    "/api/v1/models/{name}/": {"get", "patch", "delete"},
    "/api/v1/models/{name}/versions/": {"get", "post"},
    "/api/v1/models/{name}/versions/{number}/": {"get"},
    "/api/v1/models/{name}/versions/{number}/artifact": {"get"},
    "/api/v1/models/{name}/versions/{number}/promote": {"post"},
    "/api/v1/models/{name}/versions/{number}/retire": {"post"},
    "/api/v1/models/{name}/versions/{number}/validate": {"post"},
    "/api/v1/models/{name}/rollback": {"post"},
    "/api/v1/models/{name}/deployments": {"get"},
    "/api/v1/locations/": {"get", "post"},
}


@pytest.fixture
def schema(anon_client) -> dict:
    response = anon_client.get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_the_schema_is_valid_openapi(schema):
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)  # raises jsonschema.ValidationError when the document is not OpenAPI


def test_the_schema_describes_every_catalogue_route_and_method(schema):
    described = {
        path: set(schema["paths"].get(path, {})) & {"get", "post", "patch", "delete"} for path in CATALOGUE_PATHS
    }
    assert described == CATALOGUE_PATHS


def test_the_schema_documents_both_ways_to_upload_a_version(schema):
    upload = schema["paths"]["/api/v1/models/{name}/versions/"]["post"]
    assert set(upload["requestBody"]["content"]) == {"application/octet-stream", "multipart/form-data"}
    assert {"201", "200", "413"} <= set(upload["responses"])


def test_the_schema_is_also_served_as_json(anon_client):
    response = anon_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert "/api/v1/models/" in response.json()["paths"]


def test_the_docs_page_loads_its_scripts_and_styles_from_this_server(anon_client):
    # When the Swagger UI page is fetched
    response = anon_client.get("/api/docs/")
    # Then it is HTML whose assets are local static files, with no CDN or other external host
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, "the page references no scripts or styles"
    static_url = "/" + settings.STATIC_URL.lstrip("/")
    assert all(url.startswith(static_url) for url in assets), assets
    assert "cdn" not in html.lower()
    assert not re.search(r"https?://", html)
    # And every asset is a file this server has
    assert all(finders.find(url.removeprefix(static_url)) for url in assets)


def test_every_path_parameter_is_one_of_its_path_s_placeholders(schema):
    # A parameter the path does not hold ("pk" beside "{id}") makes clients and the fuzzer send it nowhere.
    wrong = []
    for path, operations in schema["paths"].items():
        placeholders = set(re.findall(r"{(\w+)}", path))
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            if names != placeholders:
                wrong.append(f"{method.upper()} {path}: {sorted(names)}")
    assert not wrong


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/api/v1/models/{name}/rank", {"post"}),
        ("/api/v1/pipelines/", {"get", "post"}),
        ("/api/v1/pipelines/{name}/", {"get", "delete"}),
        ("/api/v1/pipelines/{name}/versions/", {"get", "post"}),
        ("/api/v1/pipelines/{name}/versions/{number}/promote", {"post"}),
        ("/api/v1/pipelines/{name}/rollback", {"post"}),
        ("/api/v1/pipelines/{name}/predict", {"post"}),
        ("/api/v1/pipelines/{name}/learn", {"post"}),
        ("/api/v1/datasets/", {"get", "post"}),
        ("/api/v1/datasets/{id}/", {"get", "delete"}),
        ("/api/v1/instances/", {"get"}),
        ("/api/v1/instances/{key}/", {"get"}),
    ],
)
def test_the_schema_describes_rank_pipelines_and_datasets(schema, path, methods):
    assert methods <= set(schema["paths"][path])
