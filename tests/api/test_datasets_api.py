"""The datasets API: upload a file or keep a learn-log slice, list, read with a preview, delete; every refusal a 4xx
in the one error shape."""

import itertools

import dill
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from river import datasets, linear_model

import serving
from catalogue import services
from catalogue.datasets import dataset_rows
from catalogue.models import Dataset
from tests import factories
from tests.catalogue.test_datasets import TRUMP, trump_csv
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/datasets/"


@pytest.fixture
def creator(db):
    return client_for(factories.UserFactory(username="creator", permissions=["add_dataset"]))


@pytest.fixture
def deleter(db):
    return client_for(factories.UserFactory(username="deleter", permissions=["delete_dataset"]))


def upload(client, content: bytes = b"x,y\n1,2\n3,4\n", *, name="d", target="y", filename="d.csv", **fields):
    form = {"file": SimpleUploadedFile(filename, content), "name": name, "target": target, **fields}
    return client.post(URL, form, format="multipart")


def assert_error(response, status: int, code: str, message_start: str = ""):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"].startswith(message_start), error["message"]
    return error


def test_uploading_a_csv_answers_201_with_its_schema(creator):
    response = upload(creator, trump_csv(TRUMP[:50]), name="trump", target="approval", description="polls")

    assert response.status_code == 201, response.content
    body = response.json()
    assert response["Location"].endswith(f"/api/v1/datasets/{body['id']}/")
    assert (body["name"], body["rows"], body["format"], body["target"]) == ("trump", 50, "csv", "approval")
    assert body["columns"][0] == {"name": "ordinal_date", "type": "number", "missing": 0}
    assert body["description"] == "polls" and body["created_by"] == "creator" and body["source_model"] is None
    assert list(dataset_rows(Dataset.objects.get(pk=body["id"]))) == TRUMP[:50]


def test_a_jsonl_upload_with_declared_types(creator):
    content = b'{"zip": "007", "y": true}\n{"zip": "010", "y": false}\n'

    response = upload(creator, content, filename="d.jsonl", types='{"zip": "string"}')

    assert response.status_code == 201, response.content
    assert response.json()["columns"] == [
        {"name": "zip", "type": "string", "missing": 0},
        {"name": "y", "type": "boolean", "missing": 0},
    ]


def test_a_dataset_reads_with_a_preview_of_its_first_twenty_rows(creator, reader_client):
    created = upload(creator, trump_csv(TRUMP[:30]), name="trump", target="approval").json()

    response = reader_client.get(created["url"])

    assert response.status_code == 200
    preview = response.json()["preview"]
    assert len(preview) == 20
    assert preview[0] == {**TRUMP[0][0], "approval": TRUMP[0][1]}


def test_the_list_is_paginated_newest_first(creator, reader_client):
    for name in ("a", "b", "c"):
        upload(creator, name=name)

    response = reader_client.get(URL, {"limit": 2})

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3 and [d["name"] for d in body["results"]] == ["c", "b"]
    assert "preview" not in body["results"][0]


def test_a_dataset_from_a_models_learn_log_holds_its_learns(creator):
    model = factories.MLModelFactory(name="live")
    version = factories.ModelVersionFactory(model=model, artifact=dill.dumps(linear_model.LinearRegression()))
    services.deployment_promote(version=version)
    events = list(itertools.islice(datasets.TrumpApproval(), 12))
    for x, y in events:
        serving.learn(model="live", features=x, ground_truth=y)

    response = creator.post(URL, {"name": "history", "from_model": "live", "from_seq": 3, "to_seq": 10}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["rows"], body["source_model"], body["from_seq"], body["to_seq"]) == (8, "live", 3, 10)
    assert body["target"] == "ground_truth" and body["format"] == "jsonl"
    assert list(dataset_rows(Dataset.objects.get(pk=body["id"]))) == events[2:10]


def test_deleting_answers_204(creator, deleter):
    created = upload(creator).json()

    assert deleter.delete(created["url"]).status_code == 204
    assert not Dataset.objects.exists()
    assert_error(deleter.delete(created["url"]), 404, "not_found")


# --- permissions ----------------------------------------------------------------------------------


def test_creating_needs_add_dataset(reader_client):
    error = assert_error(upload(reader_client), 403, "permission_denied")
    assert "catalogue.add_dataset" in error["message"]
    response = reader_client.post(URL, {"name": "h", "from_model": "live"}, format="json")
    assert_error(response, 403, "permission_denied")


def test_deleting_needs_delete_dataset(creator):
    created = upload(creator).json()

    error = assert_error(creator.delete(created["url"]), 403, "permission_denied")

    assert "catalogue.delete_dataset" in error["message"]
    assert Dataset.objects.exists()


def test_reading_needs_a_login(anon_client, creator):
    created = upload(creator).json()

    assert_error(anon_client.get(URL), 401, "not_authenticated")
    assert_error(anon_client.get(created["url"]), 401, "not_authenticated")


# --- bad input --------------------------------------------------------------------------------------


def test_a_bad_file_is_a_400_naming_the_line_and_the_column(creator):
    error = assert_error(upload(creator, b"x,y\n1,2\n3\n"), 400, "invalid")

    assert error["message"] == "line 3, column 'y': has 1 fields; the header (line 1) has 2"
    assert error["field"] == "file"


def test_undecodable_bytes_and_a_jsonl_line_that_is_no_object_are_400(creator):
    assert_error(upload(creator, b"x,y\n\xff,1\n"), 400, "invalid", "line 2: byte 1 (0xff) is not UTF-8")
    assert_error(upload(creator, b'{"y": 1}\n"text"\n', filename="d.jsonl"), 400, "invalid", "line 2: is a JSON str")


def test_the_target_must_be_a_column(creator):
    error = assert_error(upload(creator, target="nope"), 400, "invalid", "target 'nope' is not a column")
    assert error["field"] == "target"


def test_a_taken_name_is_409(creator):
    upload(creator, name="same")

    assert_error(upload(creator, name="same"), 409, "conflict", "a dataset named 'same' already exists")


def test_a_file_over_the_limit_is_413(creator, settings):
    settings.RHYTHMIC_MAX_DATASET_BYTES = 10

    error = assert_error(upload(creator, b"x,y\n1,2\n3,4\n"), 413, "too_large")

    assert "RHYTHMIC_MAX_DATASET_BYTES" in error["message"]


def test_a_body_over_the_limit_is_refused_from_its_content_length(creator, settings):
    settings.RHYTHMIC_MAX_DATASET_BYTES = 10
    settings.RHYTHMIC_MAX_JSON_BYTES = 10

    response = creator.generic("POST", URL, b"x" * 2_000_000, content_type="multipart/form-data; boundary=b")

    assert_error(response, 413, "too_large")
    assert "RHYTHMIC_MAX_DATASET_BYTES" in response.json()["error"]["message"]


def test_a_dataset_body_may_pass_the_json_limit(creator, settings):
    settings.RHYTHMIC_MAX_JSON_BYTES = 100

    response = upload(creator, trump_csv(TRUMP[:20]), name="trump", target="approval")

    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "d", "target": "y"}, "send the dataset in the form's file field"),
        ({"file": b"x,y\n1,2\n", "target": "y"}, "name:"),
        ({"file": b"x,y\n1,2\n", "name": "d", "target": "y", "colour": "red"}, "colour: unknown field"),
        ({"file": b"x,y\n1,2\n", "name": "d", "target": "y", "types": "[1]"}, "types: must be a JSON object"),
        ({"file": b"x,y\n1,2\n", "name": "d", "target": "y", "types": '{"x": "date"}'}, "types: 'x' must be one of"),
        ({"file": b"x,y\n1,2\n", "name": "Bad Name", "target": "y"}, "name must be 1-100"),
        ({"file": b"x,y\n1,2\n", "name": "d", "target": "y", "format": "xls"}, "format:"),
    ],
)
def test_bad_forms_are_400(creator, fields, message):
    form = {k: SimpleUploadedFile("d.csv", v) if k == "file" else v for k, v in fields.items()}

    assert_error(creator.post(URL, form, format="multipart"), 400, "invalid", message)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"name": "h", "from_model": "nope"}, 404, "no model named 'nope'"),
        ({"name": "h"}, 400, "from_model:"),
        ({"name": "h", "from_model": "live", "from_seq": 0}, 400, "from_seq:"),
        ({"name": "h", "from_model": "live", "to_seq": "x"}, 400, "to_seq:"),
        ({"name": "h", "from_model": "live", "file": "x"}, 400, "file: unknown field"),
        ({"name": "h", "from_model": "live"}, 409, "live's learn log holds no entry"),
    ],
)
def test_bad_learn_log_requests_are_4xx(creator, body, status, message):
    factories.MLModelFactory(name="live")

    response = creator.post(URL, body, format="json")

    assert_error(response, status, {400: "invalid", 404: "not_found", 409: "conflict"}[status], message)


def test_another_content_type_is_415(creator):
    response = creator.generic("POST", URL, "x,y\n1,2\n", content_type="text/csv")

    assert_error(response, 415, "unsupported_media_type", "cannot read text/csv")


def test_an_unknown_dataset_is_404(reader_client):
    assert_error(reader_client.get(f"{URL}999/"), 404, "not_found", "no dataset 999")
