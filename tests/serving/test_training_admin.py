"""The admin of training jobs (read-only) and a trained version's page with its dataset, params and metrics."""

import dill
import pytest
from django.urls import reverse

from serving import training
from serving.models import TrainingJob
from tests import factories
from tests.training import trump_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(db) -> TrainingJob:
    model = factories.MLModelFactory(name="trump", flavor="regression")
    factories.ModelVersionFactory(model=model, artifact=dill.dumps(factories.river_regressor()))
    started = training.training_start(
        model=model, version=1, dataset=trump_dataset(n=40).pk, params={"LinearRegression": {"l2": 0.25}}
    )
    training.run(started.pk)
    return TrainingJob.objects.select_related("result").get(pk=started.pk)


def test_the_jobs_are_listed_and_shown_read_only(admin_client, job):
    listing = admin_client.get(reverse("admin:serving_trainingjob_changelist")).content.decode()
    assert "trump" in listing and "succeeded" in listing and "v2" in listing
    page = admin_client.get(reverse("admin:serving_trainingjob_change", args=[job.pk]))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert admin_client.get(reverse("admin:serving_trainingjob_add")).status_code == 403


def test_a_trained_versions_page_shows_its_dataset_params_and_training_metrics(admin_client, job):
    page = admin_client.get(reverse("admin:catalogue_modelversion_change", args=[job.result_id])).content.decode()
    assert "trump" in page and "l2" in page and "MAE" in page
