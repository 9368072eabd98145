"""The Pipelines pages: list, create with stages, the pipeline's page (versions, history, stage models linked),
a new version, promote and roll back; each write with the permission of its model equivalent; errors on the form."""

import pytest
from django.urls import reverse

from catalogue import pipelines
from catalogue.pipeline_models import Pipeline, PipelineDeployment, PipelineVersion
from dashboard.pipeline_forms import format_stages, parse_stages
from tests import factories

pytestmark = pytest.mark.django_db

STAGES = [{"model": "scorer", "as": "score"}, {"model": "clf"}]


@pytest.fixture
def stage_models():
    scorer = factories.MLModelFactory(name="scorer", flavor="anomaly")
    factories.MLModelFactory(name="clf", flavor="binary")
    return scorer


@pytest.fixture
def fraud(stage_models):
    return pipelines.pipeline_create(name="fraud", stages=STAGES, description="catches fraud")


def test_stage_lines_parse_into_stages_and_back():
    assert parse_stages("scorer as score\n\n  clf  \n") == STAGES
    assert format_stages(STAGES) == "scorer as score\nclf"


def test_the_list_shows_each_pipeline_with_its_production_and_stage_models_linked(fraud, reader_web):
    response = reader_web.get(reverse("dashboard:pipelines"))
    html = response.content.decode()
    assert response.status_code == 200
    assert reverse("dashboard:pipeline", args=["fraud"]) in html
    assert reverse("dashboard:model", args=["scorer"]) in html
    assert "New pipeline" not in html  # the reader may not create one


def test_creating_a_pipeline_from_the_form_puts_version_1_in_production(stage_models, maintainer_web):
    data = {"name": "fraud", "description": "", "stages": "scorer as score\nclf"}
    response = maintainer_web.post(reverse("dashboard:pipeline-create"), data)
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:pipeline", args=["fraud"])
    assert Pipeline.objects.get().production_version.stages == STAGES


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        ("ghost", "no model named &#x27;ghost&#x27;"),
        ("scorer\nclf", "is required"),
        ("scorer as", "is not &#x27;model&#x27; or &#x27;model as name&#x27;"),
        ("", "name at least one stage"),
    ],
)
def test_bad_stages_are_shown_on_the_form(stage_models, maintainer_web, stages, message):
    response = maintainer_web.post(reverse("dashboard:pipeline-create"), {"name": "p", "stages": stages})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Pipeline.objects.exists()


def test_the_pipeline_page_shows_versions_history_and_actions(fraud, maintainer_web):
    pipelines.pipeline_version_create(pipeline=fraud, stages=[{"model": "clf"}], message="alone")
    html = maintainer_web.get(reverse("dashboard:pipeline", args=["fraud"])).content.decode()
    assert "catches fraud" in html
    assert "alone" in html
    assert reverse("dashboard:pipeline-promote", args=["fraud", 2]) in html
    assert reverse("dashboard:pipeline-promote", args=["fraud", 1]) not in html  # v1 is in production
    assert reverse("dashboard:model", args=["clf"]) in html
    assert "no production version" in html  # the stage models have none yet
    assert "Roll back" not in html  # nothing to roll back to


def test_a_reader_sees_no_buttons(fraud, reader_web):
    pipelines.pipeline_version_create(pipeline=fraud, stages=[{"model": "clf"}])
    html = reader_web.get(reverse("dashboard:pipeline", args=["fraud"])).content.decode()
    assert "New version" not in html
    assert reverse("dashboard:pipeline-promote", args=["fraud", 2]) not in html


def test_a_new_version_starts_from_the_production_stages_and_is_added(fraud, maintainer_web):
    route = reverse("dashboard:pipeline-version-create", args=["fraud"])
    assert "scorer as score\nclf" in maintainer_web.get(route).content.decode()
    response = maintainer_web.post(route, {"stages": "clf", "message": "simpler"})
    assert response.status_code == 302
    assert PipelineVersion.objects.get(number=2).stages == [{"model": "clf"}]


def test_the_same_stages_again_are_refused_on_the_form(fraud, maintainer_web):
    route = reverse("dashboard:pipeline-version-create", args=["fraud"])
    response = maintainer_web.post(route, {"stages": "scorer as score\nclf"})
    assert response.status_code == 409
    assert "has these stages already" in response.content.decode()


def test_promote_and_roll_back_through_their_confirmation_pages(fraud, maintainer_web):
    pipelines.pipeline_version_create(pipeline=fraud, stages=[{"model": "clf"}])
    promote = reverse("dashboard:pipeline-promote", args=["fraud", 2])
    assert "Promote fraud v2 to production?" in maintainer_web.get(promote).content.decode()
    assert maintainer_web.post(promote, {"note": "simpler"}).status_code == 302
    fraud.refresh_from_db()
    assert fraud.production_version.number == 2
    rollback = reverse("dashboard:pipeline-rollback", args=["fraud"])
    assert "Roll fraud back to v1?" in maintainer_web.get(rollback).content.decode()
    assert maintainer_web.post(rollback, {"note": ""}).status_code == 302
    fraud.refresh_from_db()
    assert fraud.production_version.number == 1
    assert PipelineDeployment.objects.first().note == ""
    assert PipelineDeployment.objects.filter(note="simpler", action="promote").exists()


def test_a_rollback_with_nothing_to_return_to_is_a_409_page(fraud, maintainer_web):
    response = maintainer_web.get(reverse("dashboard:pipeline-rollback", args=["fraud"]))
    assert response.status_code == 409
    assert "no earlier production version" in response.content.decode()


def test_promoting_the_production_version_again_is_shown_on_the_form(fraud, maintainer_web):
    response = maintainer_web.post(reverse("dashboard:pipeline-promote", args=["fraud", 1]), {"note": ""})
    assert response.status_code == 409
    assert "already in production" in response.content.decode()


@pytest.mark.parametrize(
    ("route", "args", "permission"),
    [
        ("pipeline-create", [], "catalogue.add_mlmodel"),
        ("pipeline-version-create", ["fraud"], "catalogue.add_modelversion"),
        ("pipeline-promote", ["fraud", 1], "catalogue.change_mlmodel"),
        ("pipeline-rollback", ["fraud"], "catalogue.change_mlmodel"),
    ],
)
def test_each_write_needs_the_permission_of_its_model_equivalent(fraud, reader_web, route, args, permission):
    response = reader_web.post(reverse(f"dashboard:{route}", args=args), {})
    assert response.status_code == 403
    assert permission in response.content.decode()


def test_an_unknown_pipeline_is_a_404_page(reader_web):
    assert reader_web.get(reverse("dashboard:pipeline", args=["ghost"])).status_code == 404


def test_the_pages_need_a_login(fraud, client):
    response = client.get(reverse("dashboard:pipelines"))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
