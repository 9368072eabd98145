"""The Training jobs page: jobs with their progress, the start form, cancel; Compare shows each version's lineage."""

import dill
import pytest
from django.urls import reverse

from catalogue import services
from catalogue.models import MLModel
from serving import training
from serving.models import TrainingJob
from tests import factories
from tests.training import trump_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def trump(db):
    model = factories.MLModelFactory(name="trump", flavor="regression")
    v1 = factories.ModelVersionFactory(model=model, artifact=dill.dumps(factories.river_regressor()))
    services.deployment_promote(version=v1)
    return trump_dataset(n=80)


def jobs_url() -> str:
    return reverse("dashboard:jobs", kwargs={"name": "trump"})


def test_the_page_lists_jobs_with_progress_metrics_and_the_version_made(maintainer_web, trump):
    job = training.training_start(model=MLModel.objects.get(name="trump"), version=1, dataset=trump.pk)
    training.run(job.pk)
    page = maintainer_web.get(jobs_url()).content.decode()
    assert f'data-job="{job.pk}" data-status="succeeded"' in page
    assert 'value="100"' in page and "80 / 80 rows" in page
    assert 'data-metric="MAE"' in page and ">v2</a>" in page
    assert "Start training" in page and 'href="/models/trump/jobs/"' in page


def test_starting_a_job_from_the_form_queues_it_and_says_so(maintainer_web, trump):
    response = maintainer_web.post(
        reverse("dashboard:job-start", kwargs={"name": "trump"}),
        {"version": "1", "dataset": str(trump.pk), "from": "live", "message": "warm"},
        follow=True,
    )
    job = TrainingJob.objects.get()
    assert (job.start, job.message, job.created_by.username) == ("live", "warm", "maintainer")
    assert f"Training job #{job.pk} started: v1 on dataset trump." in response.content.decode()


def test_a_refused_start_shows_why(maintainer_web, trump):
    response = maintainer_web.post(
        reverse("dashboard:job-start", kwargs={"name": "trump"}),
        {"version": "9", "dataset": str(trump.pk)},
        follow=True,
    )
    assert "Training not started: trump has no version 9" in response.content.decode()
    assert not TrainingJob.objects.exists()


def test_a_reader_sees_the_page_but_cannot_start_or_cancel(reader_web, trump):
    page = reader_web.get(jobs_url()).content.decode()
    assert "Start training" not in page
    refused = reader_web.post(
        reverse("dashboard:job-start", kwargs={"name": "trump"}), {"version": "1", "dataset": "1"}
    )
    assert refused.status_code == 403
    assert "needs the catalogue.add_modelversion permission" in refused.content.decode()


def test_cancel_from_the_page_cancels_a_queued_job(maintainer_web, trump):
    job = training.training_start(model=MLModel.objects.get(name="trump"), version=1, dataset=trump.pk)
    response = maintainer_web.post(reverse("dashboard:job-cancel", kwargs={"name": "trump", "pk": job.pk}), follow=True)
    job.refresh_from_db()
    assert job.status == TrainingJob.Status.CANCELLED
    assert f"Training job #{job.pk}: cancel requested (cancelled)." in response.content.decode()


def test_compare_shows_parameters_dataset_and_training_metrics_side_by_side(maintainer_web, trump):
    model = MLModel.objects.get(name="trump")
    job = training.training_start(model=model, version=1, dataset=trump.pk, params={"LinearRegression": {"l2": 0.1}})
    training.run(job.pk)
    job.refresh_from_db()
    page = maintainer_web.get(reverse("dashboard:compare", kwargs={"name": "trump"}) + "?a=1&b=2").content.decode()
    assert "Lineage and training" in page
    assert f'<a href="/datasets/{trump.pk}/">trump</a>' in page
    assert "{&quot;LinearRegression&quot;: {&quot;l2&quot;: 0.1}}" in page
    assert 'data-training-metric="MAE"' in page
