"""``manage.py pipelines``: list, create, show, version, promote, rollback and delete, on catalogue.pipelines,
with the services' errors as CommandErrors that say what to fix."""

import io
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catalogue import pipelines
from catalogue.management.commands.pipelines import parse_stage
from catalogue.models import MLModel
from catalogue.pipeline_models import Pipeline, PipelineDeployment, PipelineVersion
from tests import factories

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command("pipelines", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def models():
    factories.MLModelFactory(name="scorer", flavor="anomaly")
    factories.MLModelFactory(name="clf", flavor="binary")
    factories.MLModelFactory(name="other", flavor="binary")
    factories.MLModelFactory(name="groups", flavor="clustering")


@pytest.fixture
def fraud(models):
    run("create", "fraud", "--stage", "scorer:anomaly_score", "--stage", "clf", "--message", "first")
    return Pipeline.objects.get(name="fraud")


def test_a_stage_is_a_model_with_an_optional_output_name():
    assert parse_stage("scorer:anomaly_score") == {"model": "scorer", "as": "anomaly_score"}
    assert parse_stage("clf") == {"model": "clf"}
    assert parse_stage("scorer:a:b") == {"model": "scorer", "as": "a:b"}  # model names hold no ':'


def test_create_puts_version_1_in_production_with_the_stages_in_order(models):
    # When a pipeline is created with two stages
    output = run("create", "fraud", "--stage", "scorer:anomaly_score", "--stage", "clf")
    # Then version 1 holds them, in production, recorded as a promote
    assert "created pipeline fraud: v1 in production (scorer as anomaly_score -> clf)" in output
    pipeline = Pipeline.objects.get(name="fraud")
    assert pipeline.production_version.stages == [{"model": "scorer", "as": "anomaly_score"}, {"model": "clf"}]
    assert list(pipeline.deployments.values_list("action", flat=True)) == ["promote"]


def test_create_records_the_user_as_owner_and_author(models, maintainer):
    run("create", "fraud", "--stage", "scorer:s", "--stage", "clf", "--user", maintainer.username)
    pipeline = Pipeline.objects.get(name="fraud")
    assert (pipeline.owner, pipeline.production_version.author) == (maintainer, maintainer)


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        (["ghost:g", "clf"], "stages[0].model: no model named 'ghost'"),
        (["scorer", "clf"], "stages[0].as is required"),
        (["scorer:s", "scorer"], "stages[1].model: scorer is already stage 0"),
        (["clf:p", "groups"], "it must be a regression, binary, multiclass, anomaly model; groups is clustering"),
        (["scorer:s", "other:s", "clf"], "stages[1].as: 's' names another stage's output too"),
        (["scorer:", "clf"], "the output name after ':' is empty"),
        ([":s", "clf"], "give the model's name first"),
    ],
)
def test_bad_stages_are_refused_naming_the_stage_and_nothing_is_created(models, stages, message):
    args = [arg for stage in stages for arg in ("--stage", stage)]
    with pytest.raises(CommandError, match=re.escape(message)):
        run("create", "fraud", *args)
    assert not Pipeline.objects.exists()


def test_create_refuses_a_name_taken_by_another_pipeline(fraud):
    with pytest.raises(CommandError, match="a pipeline named 'fraud' already exists"):
        run("create", "fraud", "--stage", "clf")


def test_create_needs_a_stage(models):
    with pytest.raises(CommandError, match="--stage"):
        run("create", "fraud")


def test_list_shows_each_pipeline_with_its_production_stages(fraud):
    lines = run("list").splitlines()
    assert lines[0].split() == ["NAME", "PRODUCTION", "STAGES", "VERSIONS", "UPDATED"]
    assert lines[1].startswith("fraud")
    assert "v1" in lines[1]
    assert "scorer as anomaly_score -> clf" in lines[1]


def test_list_says_how_to_start_when_there_is_none():
    assert "no pipelines yet; create one with: manage.py pipelines create" in run("list")


def test_a_new_version_is_not_served_until_promoted(fraud):
    # When a version with other stages is added
    output = run("version", "fraud", "--stage", "other", "--message", "the classifier alone")
    # Then it is v2, outside production, and the command says how to promote it
    assert "fraud v2: other" in output
    assert "promote it with: manage.py pipelines promote fraud --version 2" in output
    fraud.refresh_from_db()
    assert fraud.production_version.number == 1
    # When it is promoted, then it serves, and the history records it with the note
    output = run("promote", "fraud", "--version", "2", "--note", "try it")
    assert "fraud now serves v2 (other; was v1)" in output
    fraud.refresh_from_db()
    assert fraud.production_version.number == 2
    assert fraud.deployments.first().note == "try it"


def test_a_new_version_may_be_promoted_at_once(fraud):
    output = run("version", "fraud", "--stage", "other", "--promote")
    assert "fraud now serves v2 (other; was v1)" in output
    fraud.refresh_from_db()
    assert fraud.production_version.number == 2


def test_the_same_stages_again_are_refused(fraud):
    with pytest.raises(CommandError, match="fraud v1 has these stages already"):
        run("version", "fraud", "--stage", "scorer:anomaly_score", "--stage", "clf")
    assert PipelineVersion.objects.count() == 1


def test_rollback_returns_to_the_version_before(fraud):
    run("version", "fraud", "--stage", "other", "--promote")
    output = run("rollback", "fraud", "--note", "worse")
    assert "fraud rolled back to v1 (scorer as anomaly_score -> clf; was v2)" in output
    fraud.refresh_from_db()
    assert fraud.production_version.number == 1
    assert [d.action for d in fraud.deployments.all()] == ["rollback", "promote", "promote"]


def test_rollback_without_an_earlier_version_is_refused_and_records_nothing(fraud):
    with pytest.raises(CommandError, match="fraud has no earlier production version to roll back to"):
        run("rollback", "fraud")
    assert PipelineDeployment.objects.count() == 1


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("1", "fraud v1 is already in production"),
        ("7", "pipeline fraud has no version 7"),
        ("two", "a version number is a whole number, not 'two'"),
    ],
)
def test_promote_errors_are_clear(fraud, number, message):
    with pytest.raises(CommandError, match=message):
        run("promote", "fraud", "--version", number)
    assert PipelineDeployment.objects.count() == 1


def test_show_lists_versions_newest_first_with_the_live_one_and_the_history(fraud, maintainer):
    run("version", "fraud", "--stage", "other", "--user", maintainer.username, "--message", "alone")
    output = run("show", "fraud")
    versions, history = output.split("\n\n")
    rows = versions.splitlines()
    assert rows[0].split() == ["VERSION", "STAGES", "AUTHOR", "MESSAGE", "CREATED", "LIVE"]
    assert rows[1].startswith("v2") and maintainer.username in rows[1] and "alone" in rows[1]
    assert not rows[1].endswith("LIVE")
    assert rows[2].startswith("v1") and rows[2].endswith("LIVE")
    assert history.splitlines()[0].split() == ["WHEN", "ACTION", "FROM", "TO", "USER", "NOTE"]
    assert "promote" in history.splitlines()[1]


def test_delete_removes_the_pipeline_its_versions_and_history_but_not_its_models(fraud):
    run("version", "fraud", "--stage", "other", "--promote")
    output = run("delete", "fraud")
    assert "deleted pipeline fraud (2 versions); its stage models are unchanged" in output
    assert not Pipeline.objects.exists()
    assert not PipelineVersion.objects.exists()
    assert not PipelineDeployment.objects.exists()
    assert set(MLModel.objects.values_list("name", flat=True)) == {"scorer", "clf", "other", "groups"}


@pytest.mark.parametrize(
    "args",
    [
        ("show", "ghost"),
        ("version", "ghost", "--stage", "clf"),
        ("promote", "ghost", "--version", "1"),
        ("rollback", "ghost"),
        ("delete", "ghost"),
    ],
)
def test_an_unknown_pipeline_is_refused_by_every_action(models, args):
    with pytest.raises(CommandError, match="no pipeline named 'ghost'"):
        run(*args)


def test_an_unknown_user_is_refused_before_anything_changes(models):
    with pytest.raises(CommandError, match="--user: no user named 'nobody'"):
        run("create", "fraud", "--stage", "clf", "--user", "nobody")
    assert not Pipeline.objects.exists()


def test_the_service_deletes_a_pipeline_out_of_production_too(fraud):
    pipelines.pipeline_version_create(pipeline=fraud, stages=[{"model": "other"}])
    pipelines.pipeline_delete(pipeline=Pipeline.objects.get(name="fraud"))
    assert not Pipeline.objects.exists()


def test_the_readme_s_command_line_example_runs_as_written(models):
    # The README's `manage.py pipelines` block, line by line, on the models its curl example creates
    import shlex
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    [block] = [b for b in re.findall(r"^```sh\n(.*?)^```", readme, re.M | re.S) if "pipelines create fraud-cli" in b]
    outputs = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        assert words[:3] == [".venv/bin/python", "manage.py", "pipelines"], line
        outputs.append(run(*words[3:]))
    assert "created pipeline fraud-cli: v1 in production" in outputs[0]
    assert "fraud-cli rolled back to v1" in outputs[3]
    assert "deleted pipeline fraud-cli (2 versions)" in outputs[-1]
    assert not Pipeline.objects.exists()
