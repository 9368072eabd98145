"""The pipelines' Django admin: pages render, creating and changing stages go through catalogue.pipelines,
promote and roll back are actions, versions and history are read-only."""

import json

import pytest

from catalogue import pipelines
from catalogue.pipeline_models import Pipeline, PipelineDeployment, PipelineVersion
from tests import factories
from tests.catalogue.test_admin import act, messages_of, url

pytestmark = pytest.mark.django_db

STAGES = [{"model": "scorer", "as": "score"}, {"model": "clf"}]


@pytest.fixture
def fraud():
    factories.MLModelFactory(name="scorer", flavor="anomaly")
    factories.MLModelFactory(name="clf", flavor="binary")
    return pipelines.pipeline_create(name="fraud", stages=STAGES)


def test_the_pages_render(admin_client, fraud):
    for name in ("pipeline_changelist", "pipeline_add", "pipelineversion_changelist"):
        assert admin_client.get(url(name)).status_code == 200
    assert admin_client.get(url("pipeline_change", fraud.pk)).status_code == 200
    assert admin_client.get(url("pipelineversion_change", fraud.production_version.pk)).status_code == 200


def test_adding_a_pipeline_in_the_admin_creates_version_1_in_production(admin_client, fraud):
    data = {"name": "second", "description": "", "stages": json.dumps([{"model": "clf"}])}
    data.update(
        {f"{prefix}-{key}": "0" for prefix in ("versions", "deployments") for key in ("TOTAL_FORMS", "INITIAL_FORMS")}
    )
    response = admin_client.post(url("pipeline_add"), data, follow=True)
    assert response.status_code == 200
    assert Pipeline.objects.get(name="second").production_version.stages == [{"model": "clf"}]


def test_bad_stages_in_the_admin_are_a_message_not_a_500(admin_client, fraud):
    data = {"name": "second", "description": "", "stages": json.dumps([{"model": "ghost"}])}
    data.update(
        {f"{prefix}-{key}": "0" for prefix in ("versions", "deployments") for key in ("TOTAL_FORMS", "INITIAL_FORMS")}
    )
    response = admin_client.post(url("pipeline_add"), data, follow=True)
    assert any("no model named 'ghost'" in message for message in messages_of(response))
    assert not Pipeline.objects.filter(name="second").exists()


def test_changing_the_stages_adds_a_version(admin_client, fraud):
    data = {"description": "new words", "stages": json.dumps([{"model": "clf"}])}
    data.update(
        {f"{prefix}-{key}": "0" for prefix in ("versions", "deployments") for key in ("TOTAL_FORMS", "INITIAL_FORMS")}
    )
    data.update(
        {"versions-INITIAL_FORMS": "1", "versions-TOTAL_FORMS": "1", "versions-0-id": str(fraud.production_version.pk)}
    )
    data.update({"versions-0-pipeline": str(fraud.pk)})
    deployment = PipelineDeployment.objects.get()
    data.update(
        {"deployments-INITIAL_FORMS": "1", "deployments-TOTAL_FORMS": "1", "deployments-0-id": str(deployment.pk)}
    )
    data.update({"deployments-0-pipeline": str(fraud.pk)})
    admin_client.post(url("pipeline_change", fraud.pk), data, follow=True)
    fraud.refresh_from_db()
    assert fraud.description == "new words"
    assert list(fraud.versions.values_list("number", flat=True).order_by("number")) == [1, 2]
    assert fraud.production_version.number == 1


def test_promote_and_roll_back_are_actions(admin_client, fraud):
    v2 = pipelines.pipeline_version_create(pipeline=fraud, stages=[{"model": "clf"}])
    assert act(admin_client, "pipelineversion", "promote", [v2]) == ["fraud v2 is in production."]
    assert act(admin_client, "pipeline", "roll_back", [fraud]) == ["fraud rolled back to v1."]
    messages = act(admin_client, "pipeline", "roll_back", [fraud])
    assert any("no earlier production version" in message for message in messages)


def test_versions_cannot_be_added_or_deleted_in_the_admin(admin_client, fraud):
    assert admin_client.get(url("pipelineversion_add")).status_code == 403
    assert admin_client.get(url("pipelineversion_delete", fraud.production_version.pk)).status_code == 403
    assert PipelineVersion.objects.count() == 1
