"""Pipelines in the catalogue: stage checks, versions (each change of stages), promote and rollback with history."""

import pytest

from catalogue import pipelines
from catalogue.errors import Conflict, InvalidInput
from catalogue.pipeline_models import Pipeline, PipelineDeployment, PipelineVersion
from tests import factories

pytestmark = pytest.mark.django_db

STAGES = [{"model": "scorer", "as": "score"}, {"model": "clf"}]


@pytest.fixture
def models():
    factories.MLModelFactory(name="scorer", flavor="anomaly")
    factories.MLModelFactory(name="clf", flavor="binary")
    factories.MLModelFactory(name="other", flavor="binary")


def test_creating_a_pipeline_stores_version_1_in_production_with_a_promote_record(models):
    user = factories.UserFactory()
    pipeline = pipelines.pipeline_create(name="fraud", stages=STAGES, description="d", owner=user)
    version = pipeline.production_version
    assert (version.number, version.stages, version.author) == (1, STAGES, user)
    deployment = PipelineDeployment.objects.get()
    assert (deployment.action, deployment.from_version, deployment.to_version) == ("promote", None, version)


def test_each_change_of_stages_is_a_new_version_outside_production(models):
    pipeline = pipelines.pipeline_create(name="fraud", stages=STAGES)
    version = pipelines.pipeline_version_create(
        pipeline=pipeline, stages=[{"model": "scorer", "as": "score"}, {"model": "other"}], message="swap"
    )
    assert (version.number, version.message) == (2, "swap")
    pipeline.refresh_from_db()
    assert pipeline.production_version.number == 1


def test_the_same_stages_again_are_not_a_new_version(models):
    pipeline = pipelines.pipeline_create(name="fraud", stages=STAGES)
    with pytest.raises(Conflict, match="has these stages already"):
        pipelines.pipeline_version_create(pipeline=pipeline, stages=STAGES)
    assert PipelineVersion.objects.count() == 1


def test_promote_and_rollback_switch_production_and_keep_the_history(models):
    pipeline = pipelines.pipeline_create(name="fraud", stages=STAGES)
    v2 = pipelines.pipeline_version_create(pipeline=pipeline, stages=[{"model": "clf"}])
    pipelines.pipeline_promote(version=v2, note="try v2")
    pipeline.refresh_from_db()
    assert pipeline.production_version == v2
    back = pipelines.pipeline_rollback(pipeline=pipeline, note="v2 is worse")
    pipeline.refresh_from_db()
    assert pipeline.production_version.number == 1
    assert (back.from_version, back.to_version.number, back.note) == (v2, 1, "v2 is worse")
    history = list(pipelines.pipeline_history(pipeline=pipeline).values_list("action", flat=True))
    assert history == ["rollback", "promote", "promote"]


def test_promoting_the_production_version_again_changes_nothing(models):
    pipeline = pipelines.pipeline_create(name="fraud", stages=STAGES)
    with pytest.raises(Conflict, match="already in production"):
        pipelines.pipeline_promote(version=pipeline.production_version)
    assert PipelineDeployment.objects.count() == 1


def test_a_rollback_without_an_earlier_version_is_a_conflict_and_records_nothing(models):
    pipeline = pipelines.pipeline_create(name="fraud", stages=STAGES)
    with pytest.raises(Conflict, match="no earlier production version"):
        pipelines.pipeline_rollback(pipeline=pipeline)
    assert PipelineDeployment.objects.count() == 1


def test_rollbacks_walk_back_the_promotions_as_a_stack(models):
    pipeline = pipelines.pipeline_create(name="fraud", stages=STAGES)
    v2 = pipelines.pipeline_version_create(pipeline=pipeline, stages=[{"model": "clf"}])
    v3 = pipelines.pipeline_version_create(pipeline=pipeline, stages=[{"model": "other"}])
    pipelines.pipeline_promote(version=v2)
    pipelines.pipeline_promote(version=v3)
    pipelines.pipeline_rollback(pipeline=pipeline)
    pipelines.pipeline_rollback(pipeline=pipeline)
    pipeline.refresh_from_db()
    assert pipeline.production_version.number == 1


def test_a_failed_create_leaves_nothing_behind(models):
    pipelines.pipeline_create(name="fraud", stages=STAGES)
    with pytest.raises(Conflict, match="already exists"):
        pipelines.pipeline_create(name="fraud", stages=STAGES)
    assert (Pipeline.objects.count(), PipelineVersion.objects.count()) == (1, 1)


@pytest.mark.parametrize(
    ("stages", "field", "message"),
    [
        ([], "stages", "non-empty JSON list"),
        ("scorer", "stages", "non-empty JSON list"),
        (["scorer"], "stages[0]", "must be a JSON object"),
        ([{"model": "ghost"}], "stages[0].model", "no model named 'ghost'"),
        ([{"model": 3}], "stages[0].model", "the name of a model"),
        ([{"model": "clf", "weight": 1}], "stages[0].weight", "unknown keys"),
        ([{"model": "scorer"}, {"model": "clf"}], "stages[0].as", "is required"),
        ([{"model": "scorer", "as": ""}, {"model": "clf"}], "stages[0].as", "1-100 characters"),
        ([{"model": "clf", "as": "p"}, {"model": "clf"}], "stages[1].model", "a model serves one stage"),
        (
            [{"model": "scorer", "as": "p"}, {"model": "other", "as": "p"}, {"model": "clf"}],
            "stages[1].as",
            "another stage's output",
        ),
        ([{"model": "clf"}] * 9, "stages", "at most 8 stages"),
    ],
)
def test_bad_stages_are_refused_naming_the_stage(models, stages, field, message):
    with pytest.raises(InvalidInput, match=message) as refused:
        pipelines.pipeline_create(name="fraud", stages=stages)
    assert refused.value.field == field
    assert not Pipeline.objects.exists()


def test_an_output_named_like_a_feature_of_a_stage_model_is_refused(models):
    clf = factories.MLModelFactory(name="typed", flavor="binary")
    factories.ModelVersionFactory(model=clf, input_example={"amount": 1.0, "score": 0.5})
    with pytest.raises(InvalidInput, match="'score' is a feature of the stage models' input examples"):
        pipelines.pipeline_create(name="fraud", stages=[{"model": "scorer", "as": "score"}, {"model": "typed"}])


def test_the_last_stage_must_answer_with_a_supervised_or_anomaly_flavor(models, monkeypatch):
    # Only such flavors exist so far: pretend binary is not one of them
    monkeypatch.setattr(pipelines, "LAST_FLAVORS", ("regression", "anomaly"))
    with pytest.raises(InvalidInput, match="clf is binary"):
        pipelines.pipeline_create(name="fraud", stages=STAGES)


def test_a_bad_name_is_refused(models):
    with pytest.raises(InvalidInput, match="lowercase"):
        pipelines.pipeline_create(name="Fraud Detector", stages=STAGES)


@pytest.mark.parametrize("position", [0, 1])
def test_a_forecaster_cannot_be_a_stage_and_the_refusal_says_why(models, position):
    factories.MLModelFactory(name="sales", flavor="forecasting")
    stages = [{"model": "scorer", "as": "score"}, {"model": "clf"}]
    stages.insert(position, {"model": "sales", "as": "forecast"})
    with pytest.raises(InvalidInput, match="sales is a forecasting model: it forecasts a horizon") as refused:
        pipelines.pipeline_create(name="fraud", stages=stages)
    assert refused.value.field == f"stages[{position}].model"
    assert not Pipeline.objects.exists()
