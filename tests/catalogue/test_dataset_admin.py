"""The datasets' admin: list and search, the schema and a preview on a dataset's page, uploads and deletes
through the services (a bad file is a message, not a 500)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from catalogue.datasets import dataset_rows
from catalogue.datasets.services import dataset_create
from catalogue.models import Dataset
from tests import factories
from tests.catalogue.test_datasets import TRUMP, trump_csv

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_web(db) -> Client:
    client = Client()
    client.force_login(factories.UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_the_list_searches_datasets(admin_web):
    dataset_create(name="trump", content=trump_csv(TRUMP[:5]), target="approval", fmt="csv")
    dataset_create(name="other", content=b"x,y\n1,2\n", target="y", fmt="csv")

    page = admin_web.get(reverse("admin:catalogue_dataset_changelist"), {"q": "trump"}).content.decode()

    assert "trump" in page and "other" not in page


def test_a_datasets_page_shows_its_schema_and_preview(admin_web):
    dataset = dataset_create(name="trump", content=trump_csv(TRUMP[:25]), target="approval", fmt="csv")

    response = admin_web.get(reverse("admin:catalogue_dataset_change", args=[dataset.pk]))

    page = response.content.decode()
    assert response.status_code == 200
    assert "<td>ordinal_date</td><td>number</td><td>0</td>" in page
    assert f"<td>{TRUMP[19][0]['ordinal_date']}</td>" in page
    assert f"<td>{TRUMP[20][0]['ordinal_date']}</td>" not in page


def test_an_upload_goes_through_the_service(admin_web):
    form = {"name": "trump", "description": "", "target": "approval", "data_format": ""}
    form["data_file"] = SimpleUploadedFile("t.csv", trump_csv(TRUMP[:12]))

    response = admin_web.post(reverse("admin:catalogue_dataset_add"), form, follow=True)

    assert response.status_code == 200
    dataset = Dataset.objects.get(name="trump")
    assert list(dataset_rows(dataset)) == TRUMP[:12] and dataset.created_by.username == "root"


def test_a_bad_file_is_a_message(admin_web):
    form = {"name": "bad", "description": "", "target": "y", "data_format": ""}
    form["data_file"] = SimpleUploadedFile("t.csv", b"x,y\n1\n")

    response = admin_web.post(reverse("admin:catalogue_dataset_add"), form, follow=True)

    assert [str(m) for m in response.context["messages"]] == [
        "line 2, column 'y': has 1 fields; the header (line 1) has 2"
    ]
    assert not Dataset.objects.exists()


def test_deleting_goes_through_the_service(admin_web):
    dataset = dataset_create(name="gone", content=b"x,y\n1,2\n", target="y", fmt="csv")

    response = admin_web.post(reverse("admin:catalogue_dataset_delete", args=[dataset.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not Dataset.objects.exists()
