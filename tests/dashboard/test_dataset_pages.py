"""The Datasets pages: the list with its forms, upload, keep a learn log, a dataset's schema and preview, delete."""

import dill
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from river import linear_model

import serving
from catalogue import services
from catalogue.datasets import dataset_rows
from catalogue.datasets.services import dataset_create
from catalogue.models import Dataset
from tests import factories
from tests.catalogue.test_datasets import TRUMP, trump_csv
from tests.dashboard.conftest import logged_in

pytestmark = pytest.mark.django_db

LIST = reverse("dashboard:datasets")
UPLOAD = reverse("dashboard:dataset-upload")
FROM_LOG = reverse("dashboard:dataset-from-log")


@pytest.fixture
def curator_web(db):
    user = factories.UserFactory(username="curator", permissions=["add_dataset", "delete_dataset"])
    return logged_in(user)


def stored(name="trump", rows=TRUMP[:25]) -> Dataset:
    return dataset_create(name=name, content=trump_csv(rows), target="approval", fmt="csv")


def test_the_navigation_links_to_the_datasets_page(reader_web):
    page = reader_web.get(reverse("dashboard:home")).content.decode()

    assert f'href="{LIST}"' in page


def test_the_list_shows_each_dataset_and_hides_the_forms_from_a_reader(reader_web):
    stored()

    page = reader_web.get(LIST).content.decode()

    assert "trump" in page and "approval" in page and ">25<" in page
    assert UPLOAD not in page and FROM_LOG not in page


def test_a_curator_uploads_a_file_and_lands_on_its_page(curator_web):
    form = {"upload-file": SimpleUploadedFile("t.csv", trump_csv(TRUMP[:30])), "upload-name": "trump"}

    response = curator_web.post(UPLOAD, {**form, "upload-target": "approval"}, follow=True)

    dataset = Dataset.objects.get(name="trump")
    assert response.redirect_chain[-1][0] == reverse("dashboard:dataset", kwargs={"pk": dataset.pk})
    assert "Stored trump: 30 rows, 7 columns." in response.content.decode()
    assert list(dataset_rows(dataset)) == TRUMP[:30]


def test_a_bad_file_is_shown_on_the_form_with_its_line_and_column(curator_web):
    form = {"upload-file": SimpleUploadedFile("t.csv", b"x,y\n1,2\n3\n"), "upload-name": "bad", "upload-target": "y"}

    response = curator_web.post(UPLOAD, form)

    assert response.status_code == 400
    assert "line 3, column &#x27;y&#x27;: has 1 fields" in response.content.decode()
    assert not Dataset.objects.exists()


def test_a_file_over_the_limit_is_refused_before_it_is_read(curator_web, settings):
    settings.RHYTHMIC_MAX_DATASET_BYTES = 5
    form = {"upload-file": SimpleUploadedFile("t.csv", b"x,y\n1,2\n"), "upload-name": "big", "upload-target": "y"}

    response = curator_web.post(UPLOAD, form)

    assert response.status_code == 400
    assert "RHYTHMIC_MAX_DATASET_BYTES" in response.content.decode()


def test_a_curator_keeps_a_models_learn_log(curator_web):
    model = factories.MLModelFactory(name="live")
    version = factories.ModelVersionFactory(model=model, artifact=dill.dumps(linear_model.LinearRegression()))
    services.deployment_promote(version=version)
    for x, y in TRUMP[:6]:
        serving.learn(model="live", features=x, ground_truth=y)

    response = curator_web.post(FROM_LOG, {"log-name": "history", "log-model": "live", "log-from_seq": "2"})

    dataset = Dataset.objects.get(name="history")
    assert response.status_code == 302
    assert list(dataset_rows(dataset)) == TRUMP[1:6]


def test_an_unknown_model_is_shown_on_the_learn_log_form(curator_web):
    response = curator_web.post(FROM_LOG, {"log-name": "history", "log-model": "nope"})

    assert response.status_code == 404
    assert "no model named &#x27;nope&#x27;" in response.content.decode()


def test_a_reader_may_not_upload(reader_web):
    form = {"upload-file": SimpleUploadedFile("t.csv", b"x,y\n1,2\n"), "upload-name": "d", "upload-target": "y"}

    response = reader_web.post(UPLOAD, form)

    assert response.status_code == 403
    assert "catalogue.add_dataset" in response.content.decode()


def test_a_dataset_page_shows_its_schema_and_first_twenty_rows(reader_web):
    dataset = stored()

    page = reader_web.get(reverse("dashboard:dataset", kwargs={"pk": dataset.pk})).content.decode()

    assert "ordinal_date" in page and "number" in page and "target" in page
    assert str(TRUMP[19][0]["ordinal_date"]) in page
    assert str(TRUMP[20][0]["ordinal_date"]) not in page
    assert reverse("dashboard:dataset-delete", kwargs={"pk": dataset.pk}) not in page


def test_a_curator_deletes_a_dataset(curator_web, reader_web):
    dataset = stored()
    delete = reverse("dashboard:dataset-delete", kwargs={"pk": dataset.pk})

    assert reader_web.post(delete).status_code == 403
    response = curator_web.post(delete)

    assert response.status_code == 302 and response["Location"] == LIST
    assert not Dataset.objects.exists()
    assert curator_web.get(reverse("dashboard:dataset", kwargs={"pk": dataset.pk})).status_code == 404
