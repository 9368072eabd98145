"""``manage.py train``: starts a job, prints a progress bar until it ends, and its errors."""

import io

import dill
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catalogue import services
from serving.models import TrainingJob
from tests import factories
from tests.training import trump_dataset

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command("train", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def trump(db):
    model = factories.MLModelFactory(name="trump", flavor="regression")
    v1 = factories.ModelVersionFactory(model=model, artifact=dill.dumps(factories.river_regressor()))
    services.deployment_promote(version=v1)
    return trump_dataset(n=200)


@pytest.mark.django_db(transaction=True)
def test_train_prints_a_progress_bar_until_the_job_ends_and_promotes_when_asked(trump, settings):
    settings.RHYTHMIC_TRAINING_CHUNK = 50
    factories.UserFactory(username="cli")
    out = run("trump", "--version", "1", "--dataset", "trump", "--promote", "--user", "cli")
    job = TrainingJob.objects.get()
    assert job.status == TrainingJob.Status.SUCCEEDED and job.created_by.username == "cli"
    lines = out.splitlines()
    assert lines[0] == f"training job {job.pk}: trump v1 on dataset trump (200 rows, from artifact), queued"
    assert f"[{'#' * 30}] 100%  200/200 rows  succeeded" in lines
    assert "trained into v2 (now in production)" in lines
    assert f"MAE: {job.metrics['values']['MAE']:.6g}" in lines


def test_no_wait_starts_the_job_and_returns(trump):
    out = run("trump", "--version", "1", "--dataset", str(trump.pk), "--no-wait")
    assert TrainingJob.objects.get().status == TrainingJob.Status.QUEUED
    assert "follow it at /models/trump/jobs/" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "nope"], "there is no dataset 'nope'"),
        (["--dataset", "trump", "--params", "{"], "--params must be a JSON object"),
        (["--dataset", "trump", "--from", "live", "--params", '{"l2": 1}'], "give one or the other"),
    ],
)
def test_bad_arguments_are_refused_with_a_message(trump, args, message):
    with pytest.raises(CommandError, match=message):
        run("trump", "--version", "1", *args)
    assert not TrainingJob.objects.exists()
