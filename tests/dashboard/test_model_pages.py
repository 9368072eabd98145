"""The model Dashboard: details, editing, uploads with their validation, promote, roll back, retire, compare."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

import serving
from catalogue import services
from catalogue.errors import Conflict
from catalogue.models import Deployment, MLModel, ModelVersion
from monitoring.models import MetricSnapshot
from tests import factories

pytestmark = pytest.mark.django_db


def url(route: str, model, number: int | None = None) -> str:
    kwargs = {"name": model if isinstance(model, str) else model.name}
    if number is not None:
        kwargs["number"] = number
    return reverse(f"dashboard:{route}", kwargs=kwargs)


def artifact(data: bytes, name: str = "model.dill") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


# --- the Dashboard ---------------------------------------------------------------------------------


def test_the_dashboard_shows_description_metadata_versions_and_history(maintainer_web, served_model):
    # when
    response = maintainer_web.get(url("model", served_model))
    # then
    page = response.content.decode()
    v1 = served_model.versions.get(number=1)
    assert response.status_code == 200
    assert "A test model" in page
    assert "<dt>team</dt><dd>pricing</dd>" in page
    assert 'id="v1"' in page and 'id="v2"' in page
    assert v1.sha256[:12] in page
    assert "Promote</strong>" in page and "none" in page  # the history: promote none -> v1


def test_the_dashboard_shows_each_versions_validation_checks(
    maintainer_web, regressor_bytes, django_capture_on_commit_callbacks
):
    # given a version validated for real (inline, after the commit)
    model = factories.MLModelFactory(name="m")
    with django_capture_on_commit_callbacks(execute=True):
        services.model_version_register(model=model, data=regressor_bytes)
    # when
    page = maintainer_web.get(url("model", model)).content.decode()
    # then
    assert "all checks passed" in page
    for check in ("load", "interface", "requirements", "determinism"):
        assert f"<td>{check}</td>" in page


def test_a_model_without_versions_says_how_to_upload_the_first(maintainer_web):
    # given
    model = factories.MLModelFactory(name="empty")
    # when
    page = maintainer_web.get(url("model", model)).content.decode()
    # then
    assert "No versions yet" in page
    assert url("version-upload", model) in page


def test_a_reader_sees_no_write_buttons(reader_web, served_model):
    # when
    page = reader_web.get(url("model", served_model)).content.decode()
    # then
    assert url("version-upload", served_model) not in page
    assert url("version-promote", served_model, 2) not in page
    assert url("model-delete", served_model) not in page


# --- editing ---------------------------------------------------------------------------------------


def test_a_maintainer_edits_description_metadata_and_location(maintainer_web, served_model):
    # given a model not in production yet
    factories.LocationFactory(name="us-east")
    model = factories.MLModelFactory(name="draft", metadata={})
    form = {"description": "New text", "metadata": "team: risk\n\nregion: us", "location": "us-east"}
    # when
    response = maintainer_web.post(url("model-update", model), form)
    # then
    assert response.status_code == 302
    model.refresh_from_db()
    assert model.description == "New text"
    assert model.metadata == {"team": "risk", "region": "us"}
    assert model.location.name == "us-east"


def test_moving_a_model_in_production_from_the_edit_page_says_to_deploy_it(maintainer_web, served_model):
    # given
    factories.LocationFactory(name="us-east")
    before = served_model.location_id
    form = {"description": "New text", "metadata": "team: pricing", "location": "us-east"}
    # when
    response = maintainer_web.post(url("model-update", served_model), form)
    # then nothing changed, and the page says how to move it
    assert response.status_code == 409
    assert "move it with a deploy" in response.content.decode()
    served_model.refresh_from_db()
    assert (served_model.location_id, served_model.description) == (before, "A test model")


def test_the_edit_form_starts_from_the_current_values(maintainer_web, served_model):
    # when
    form = maintainer_web.get(url("model-update", served_model)).context["form"]
    # then
    assert form.initial["metadata"] == "team: pricing"
    assert form.initial["description"] == "A test model"


def test_editing_with_an_unknown_location_says_which(maintainer_web, served_model):
    # when
    response = maintainer_web.post(url("model-update", served_model), {"location": "mars"})
    # then
    assert response.status_code == 400
    assert "mars" in response.content.decode()


def test_a_user_without_change_mlmodel_cannot_edit_a_model(reader_web, served_model):
    # when
    response = reader_web.post(url("model-update", served_model), {"description": "hacked"})
    # then
    assert response.status_code == 403
    served_model.refresh_from_db()
    assert served_model.description == "A test model"


# --- uploads ---------------------------------------------------------------------------------------


# Real commits, so validation runs inline right after the upload's transaction, as on the embedded default.
@pytest.mark.django_db(transaction=True)
def test_an_upload_becomes_the_next_version_and_reports_its_validation(maintainer_web, maintainer, regressor_bytes):
    # given
    model = factories.MLModelFactory(name="m")
    form = {
        "file": artifact(regressor_bytes),
        "message": "first try",
        "requirements": "river",
        "input_example": '{"x": 1.5}',
    }
    # when
    response = maintainer_web.post(url("version-upload", model), form, follow=True)
    # then
    version = model.versions.get()
    assert (version.number, version.status, version.author) == (1, "ready", maintainer)
    assert (version.message, version.requirements, version.input_example) == ("first try", "river", {"x": 1.5})
    assert response.redirect_chain[-1][0] == url("model", model) + "#v1"
    assert "Uploaded v1: it passed validation and can be promoted." in messages_of(response)


@pytest.mark.django_db(transaction=True)
def test_an_upload_that_fails_validation_shows_the_reason(maintainer_web):
    # given
    model = factories.MLModelFactory(name="m")
    # when
    response = maintainer_web.post(
        url("version-upload", model), {"file": artifact(b"not a model"), "format": "pickle"}, follow=True
    )
    # then
    version = model.versions.get()
    assert version.status == "failed"
    [message] = messages_of(response)
    assert message.startswith("Uploaded v1, but it failed validation: load: could not load the bytes as pickle")


def test_an_upload_of_the_same_bytes_again_says_it_is_the_existing_version(maintainer_web, regressor_bytes):
    # given
    model = factories.MLModelFactory(name="m")
    maintainer_web.post(url("version-upload", model), {"file": artifact(regressor_bytes)}, follow=True)
    # when
    response = maintainer_web.post(url("version-upload", model), {"file": artifact(regressor_bytes)}, follow=True)
    # then
    assert model.versions.count() == 1
    assert messages_of(response) == ["These bytes are already v1 (same sha256): nothing new was stored."]


def test_an_upload_without_a_file_asks_for_one(maintainer_web):
    # given
    model = factories.MLModelFactory(name="m")
    # when
    response = maintainer_web.post(url("version-upload", model), {"message": "oops"})
    # then
    assert response.status_code == 400
    assert response.context["form"].errors["file"] == ["This field is required."]


def test_an_upload_with_an_input_example_that_is_not_json_says_so(maintainer_web, regressor_bytes):
    # given
    model = factories.MLModelFactory(name="m")
    # when
    response = maintainer_web.post(
        url("version-upload", model), {"file": artifact(regressor_bytes), "input_example": "{x: 1"}
    )
    # then
    assert response.status_code == 400
    assert "this is not valid JSON" in response.context["form"].errors["input_example"][0]
    assert not model.versions.exists()


def test_an_upload_with_an_input_example_that_is_not_an_object_says_so(maintainer_web, regressor_bytes):
    # given
    model = factories.MLModelFactory(name="m")
    # when
    response = maintainer_web.post(
        url("version-upload", model), {"file": artifact(regressor_bytes), "input_example": "[1]"}
    )
    # then
    assert response.status_code == 400
    assert "JSON object of features" in response.context["form"].errors["input_example"][0]


@pytest.mark.parametrize(
    ("example", "reason"),
    [
        ('{"x": ' + "[" * 10_000 + "]" * 10_000 + "}", "nested deeper than"),
        ('{"city": "Par\\u0000is"}', "NUL characters"),
        ('{"x": NaN}', "NaN is not valid JSON"),
    ],
)
def test_an_upload_with_an_input_example_the_api_would_refuse_is_refused_by_the_page_too(
    maintainer_web, regressor_bytes, example, reason
):
    # given
    model = factories.MLModelFactory(name="m")
    # when
    response = maintainer_web.post(
        url("version-upload", model), {"file": artifact(regressor_bytes), "input_example": example}
    )
    # then: the form says why (the one JSON reader), never a server error
    assert response.status_code == 400
    assert reason in response.context["form"].errors["input_example"][0]
    assert not model.versions.exists()


def test_an_upload_over_the_size_limit_is_refused_with_the_limit(maintainer_web, regressor_bytes, settings):
    # given
    settings.RHYTHMIC_MAX_ARTIFACT_BYTES = 100
    model = factories.MLModelFactory(name="m")
    # when
    response = maintainer_web.post(url("version-upload", model), {"file": artifact(regressor_bytes)})
    # then
    assert response.status_code == 400
    assert "the limit is 100 (RHYTHMIC_MAX_ARTIFACT_BYTES)" in response.content.decode()
    assert not model.versions.exists()


def test_a_user_without_add_modelversion_cannot_upload(reader_web, regressor_bytes):
    # given
    model = factories.MLModelFactory(name="m")
    # when
    response = reader_web.post(url("version-upload", model), {"file": artifact(regressor_bytes)})
    # then
    assert response.status_code == 403
    assert "catalogue.add_modelversion" in response.content.decode()
    assert not model.versions.exists()


def test_a_user_without_add_modelversion_is_not_shown_the_upload_form(reader_web):
    # given
    model = factories.MLModelFactory(name="m")
    # when
    response = reader_web.get(url("version-upload", model))
    # then
    assert response.status_code == 403


def test_every_upload_field_has_a_label(maintainer_web):
    # given
    model = factories.MLModelFactory(name="m")
    # when
    page = maintainer_web.get(url("version-upload", model)).content.decode()
    # then
    for field in ("file", "format", "message", "requirements", "input_example"):
        assert f'<label for="id_{field}">' in page


def test_an_upload_waiting_for_a_worker_says_validation_is_running(maintainer_web, regressor_bytes):
    # given no commit happens in this test, so the queued validation has not run when the page answers
    model = factories.MLModelFactory(name="m")
    # when
    response = maintainer_web.post(url("version-upload", model), {"file": artifact(regressor_bytes)}, follow=True)
    # then
    assert messages_of(response) == ["Uploaded v1: validation is running; this page updates when it finishes."]
    assert "data-waiting" in response.content.decode()


def test_a_pending_version_makes_the_dashboard_watch_for_its_result(maintainer_web):
    # given
    model = factories.MLModelFactory(name="m")
    factories.ModelVersionFactory(model=model, status="pending")
    # when
    page = maintainer_web.get(url("model", model)).content.decode()
    # then
    assert "data-waiting" in page
    assert "validating…" in page


# --- promote, roll back, retire --------------------------------------------------------------------


def test_the_promote_page_says_what_changes(maintainer_web, served_model):
    # when
    response = maintainer_web.get(url("version-promote", served_model, 2))
    # then
    assert response.status_code == 200
    assert "from v1 to v2" in response.content.decode()


def test_confirming_a_promotion_puts_the_version_in_production(maintainer_web, maintainer, served_model):
    # when
    response = maintainer_web.post(url("version-promote", served_model, 2), {"note": "better"})
    # then
    assert response.status_code == 302
    served_model.refresh_from_db()
    assert served_model.production_version.number == 2
    deployment = Deployment.objects.filter(model=served_model).first()
    assert (deployment.action, deployment.user, deployment.note) == ("promote", maintainer, "better")


def test_promoting_a_failed_version_says_why_not(maintainer_web, served_model):
    # given
    factories.ModelVersionFactory(model=served_model, status="failed")
    # when
    response = maintainer_web.post(url("version-promote", served_model, 3))
    # then
    assert response.status_code == 409
    assert "only ready versions can be promoted" in response.content.decode()


def test_promoting_an_unknown_version_answers_404(maintainer_web, served_model):
    # when
    response = maintainer_web.get(url("version-promote", served_model, 99))
    # then
    assert response.status_code == 404
    assert "has no version 99" in response.content.decode()


def test_a_user_without_change_mlmodel_cannot_promote(reader_web, served_model):
    # when
    response = reader_web.post(url("version-promote", served_model, 2))
    # then
    assert response.status_code == 403
    assert "catalogue.change_mlmodel" in response.content.decode()
    served_model.refresh_from_db()
    assert served_model.production_version.number == 1


def test_rolling_back_returns_to_the_previous_production_version(maintainer_web, served_model):
    # given
    services.deployment_promote(version=served_model.versions.get(number=2))
    assert "Roll back to v1" in maintainer_web.get(url("model", served_model)).content.decode()
    # when
    response = maintainer_web.post(url("model-rollback", served_model), {"note": "v2 is worse"})
    # then
    assert response.status_code == 302
    served_model.refresh_from_db()
    assert served_model.production_version.number == 1
    assert Deployment.objects.filter(model=served_model).first().action == "rollback"


def test_rolling_back_without_an_earlier_version_says_so(maintainer_web, served_model):
    # when
    response = maintainer_web.get(url("model-rollback", served_model))
    # then
    assert response.status_code == 409
    assert "no earlier ready production version" in response.content.decode()


def test_rolling_back_a_model_with_nothing_in_production_shows_the_services_refusal(maintainer_web, db):
    # given a model that never went live
    model = factories.MLModelFactory(name="fresh")
    # when its rollback page is asked for, or posted to
    shown = maintainer_web.get(url("model-rollback", model))
    posted = maintainer_web.post(url("model-rollback", model), {"note": "undo"})
    # then both answer the Conflict of catalogue.services, in its words
    with pytest.raises(Conflict) as refusal:
        services.rollback_check(model=model)
    for response in (shown, posted):
        assert response.status_code == 409
        assert refusal.value.message in response.content.decode()
    assert not Deployment.objects.filter(model=model).exists()


def test_a_user_without_change_mlmodel_cannot_roll_back(reader_web, served_model):
    # given
    services.deployment_promote(version=served_model.versions.get(number=2))
    # when
    response = reader_web.post(url("model-rollback", served_model))
    # then
    assert response.status_code == 403
    served_model.refresh_from_db()
    assert served_model.production_version.number == 2


def test_retiring_the_production_version_warns_that_nothing_will_serve(maintainer_web, served_model):
    # when
    page = maintainer_web.get(url("version-retire", served_model, 1)).content.decode()
    # then
    assert "has NO production version" in page


def test_confirming_a_retirement_retires_the_version(maintainer_web, served_model):
    # when
    response = maintainer_web.post(url("version-retire", served_model, 2))
    # then
    assert response.status_code == 302
    assert served_model.versions.get(number=2).status == ModelVersion.Status.RETIRED


def test_retiring_a_retired_version_says_it_already_is(maintainer_web, served_model):
    # given
    services.version_retire(version=served_model.versions.get(number=2))
    # when
    response = maintainer_web.post(url("version-retire", served_model, 2))
    # then
    assert response.status_code == 409
    assert "already retired" in response.content.decode()


# --- compare ---------------------------------------------------------------------------------------


def test_compare_shows_both_versions_metrics_side_by_side(maintainer_web, served_model):
    # given v1 learned something in production
    serving.learn(model=served_model.name, features={"x": 1.0}, ground_truth=3.0)
    mae = serving.metrics(model=served_model.name)["metrics"]["MAE"]
    # when
    response = maintainer_web.get(url("compare", served_model), {"a": 1, "b": 2})
    # then
    assert response.status_code == 200
    rows = dict(response.context["rows"])
    assert rows["MAE"] == [pytest.approx(mae), None]
    assert [side["live"].n_scored for side in response.context["sides"]] == [1, 0]


def test_compare_charts_the_metric_snapshots_of_both_versions(maintainer_web, served_model):
    # given
    for number, seq, mae in ((1, 1, 2.0), (1, 2, 1.5), (2, 3, 1.0)):
        version = served_model.versions.get(number=number)
        MetricSnapshot.objects.create(model=served_model, version=version, state_seq=seq, metrics={"MAE": mae})
    # when
    response = maintainer_web.get(url("compare", served_model), {"a": 1, "b": 2})
    # then
    series = response.context["series"]
    assert [v for _, v in series["MAE"]["1"]] == [2.0, 1.5]
    assert [v for _, v in series["MAE"]["2"]] == [1.0]
    assert 'id="compare-series"' in response.content.decode()


def test_compare_says_a_failed_version_cannot_serve(maintainer_web, served_model):
    # given
    factories.ModelVersionFactory(model=served_model, status="failed")
    # when
    response = maintainer_web.get(url("compare", served_model), {"a": 1, "b": 3})
    # then
    assert "v3 is failed: it cannot serve" in response.content.decode()


def test_compare_of_a_model_with_one_version_asks_for_another(maintainer_web):
    # given
    model = factories.MLModelFactory(name="m")
    factories.ModelVersionFactory(model=model)
    # when
    page = maintainer_web.get(url("compare", model)).content.decode()
    # then
    assert "Comparing needs two versions" in page


def test_compare_with_an_unknown_version_says_which_choices_exist(maintainer_web, served_model):
    # when
    response = maintainer_web.get(url("compare", served_model), {"a": 1, "b": 9})
    # then
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_models_are_not_changed_by_a_get_of_a_confirmation_page(maintainer_web, served_model):
    # when
    maintainer_web.get(url("version-promote", served_model, 2))
    maintainer_web.get(url("model-delete", served_model))
    # then
    served_model.refresh_from_db()
    assert served_model.production_version.number == 1
    assert MLModel.objects.filter(pk=served_model.pk).exists()
