"""The catalogue's Django admin: pages render, writes go through services, refusals become messages."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from catalogue import services
from catalogue.models import Deployment, Location, MLModel, ModelVersion
from tests import factories

pytestmark = pytest.mark.django_db


def url(name: str, *args) -> str:
    return reverse(f"admin:catalogue_{name}", args=args)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def act(client, model: str, action: str, objects) -> list[str]:
    """Run an admin action on ``objects`` from the changelist; the messages shown after it."""
    data = {"action": action, ACTION_CHECKBOX_NAME: [obj.pk for obj in objects]}
    response = client.post(url(f"{model}_changelist"), data, follow=True)
    assert response.status_code == 200
    return messages_of(response)


@pytest.fixture
def catalogue():
    """One of everything: a default location, a model with a live v1 and a failed v2, a deployment."""
    location = services.location_create(name="eu-west", is_default=True)
    model = factories.MLModelFactory(name="taxi", location=location)
    v1 = factories.ModelVersionFactory(model=model, message="first")
    v2 = factories.ModelVersionFactory(
        model=model,
        status=ModelVersion.Status.FAILED,
        validation_report={
            "ok": False,
            "summary": "interface: no learn_one",
            "checks": [
                {"name": "load", "status": "passed", "detail": "loaded a thing", "seconds": 0.01},
                {"name": "interface", "status": "failed", "detail": "no learn_one", "seconds": 0.002},
            ],
        },
    )
    deployment = services.deployment_promote(version=v1)
    return {"location": location, "model": model, "v1": v1, "v2": v2, "deployment": deployment}


# --- pages ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key"),
    [("location", "location"), ("mlmodel", "model"), ("modelversion", "v2"), ("deployment", "deployment")],
)
def test_changelist_and_change_pages_render(admin_client, catalogue, name, key):
    assert admin_client.get(url(f"{name}_changelist")).status_code == 200
    assert admin_client.get(url(f"{name}_change", catalogue[key].pk)).status_code == 200


@pytest.mark.parametrize("name", ["location", "mlmodel", "modelversion"])
def test_add_pages_render(admin_client, name):
    assert admin_client.get(url(f"{name}_add")).status_code == 200


def test_a_version_page_shows_where_its_live_state_turned_non_finite(admin_client, catalogue):
    services.model_version_mark_non_finite(version_id=catalogue["v1"].pk, seq=41)
    page = admin_client.get(url("modelversion_change", catalogue["v1"].pk)).content.decode()
    assert "Non finite seq" in page
    assert ">41<" in page


def test_search_finds_models_by_name(admin_client, catalogue):
    factories.MLModelFactory(name="fraud")
    response = admin_client.get(url("mlmodel_changelist"), {"q": "fra"})
    assert [model.name for model in response.context["cl"].result_list] == ["fraud"]


def test_search_finds_versions_by_sha256_prefix(admin_client, catalogue):
    response = admin_client.get(url("modelversion_changelist"), {"q": catalogue["v2"].sha256[:10]})
    assert list(response.context["cl"].result_list) == [catalogue["v2"]]


def test_model_page_lists_versions_without_their_bytes(admin_client, catalogue):
    response = admin_client.get(url("mlmodel_change", catalogue["model"].pk))
    content = response.content.decode()
    assert catalogue["v1"].sha256[:12] in content
    assert url("modelversion_artifact", catalogue["v1"].pk) in content
    assert 'name="versions-0-artifact"' not in content


def test_version_page_pretty_prints_the_validation_report(admin_client, catalogue):
    content = admin_client.get(url("modelversion_change", catalogue["v2"].pk)).content.decode()
    assert "<td>interface</td><td>failed</td><td>no learn_one</td><td>0.002</td>" in content
    assert "interface: no learn_one" in content


def test_non_staff_users_cannot_see_the_admin(reader):
    client = Client()
    client.force_login(reader)
    response = client.get(url("mlmodel_changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


# --- models and locations -----------------------------------------------------------------------------


def test_adding_a_model_uses_the_service_defaults_and_owner(admin_client, admin_user):
    # Given a default location
    default = services.location_create(name="eu-west", is_default=True)
    # When a model is added without a location
    data = {"name": "fraud", "flavor": "binary", "description": "", "metadata": '{"team": "risk"}'}
    data |= {"location": "", "versions-TOTAL_FORMS": 0, "versions-INITIAL_FORMS": 0}
    response = admin_client.post(url("mlmodel_add"), data)
    # Then it is created in the default location, owned by the admin
    assert response.status_code == 302
    model = MLModel.objects.get(name="fraud")
    assert (model.location, model.owner, model.metadata) == (default, admin_user, {"team": "risk"})


def test_adding_a_model_with_metadata_that_is_not_strings_shows_a_form_error(admin_client):
    data = {"name": "fraud", "flavor": "binary", "metadata": '{"team": 1}'}
    data |= {"versions-TOTAL_FORMS": 0, "versions-INITIAL_FORMS": 0}
    response = admin_client.post(url("mlmodel_add"), data)
    assert response.status_code == 200
    assert "metadata must be a JSON object of strings" in response.content.decode()
    assert not MLModel.objects.exists()


def test_changing_a_model_updates_its_description_but_not_its_flavor(admin_client, catalogue):
    model = catalogue["model"]
    data = {"description": "new words", "metadata": "{}", "location": catalogue["location"].pk, "flavor": "binary"}
    data |= {"versions-TOTAL_FORMS": 0, "versions-INITIAL_FORMS": 2}
    data |= {"challengers-TOTAL_FORMS": 0, "challengers-INITIAL_FORMS": 0}
    response = admin_client.post(url("mlmodel_change", model.pk), data)
    assert response.status_code == 302
    model.refresh_from_db()
    assert (model.description, model.flavor) == ("new words", "regression")


def test_deleting_a_model_in_production_removes_it_with_its_versions(admin_client, catalogue):
    response = admin_client.post(url("mlmodel_delete", catalogue["model"].pk), {"post": "yes"})
    assert response.status_code == 302
    assert not MLModel.objects.exists()
    assert not ModelVersion.objects.exists()


def test_the_delete_page_of_a_model_summarises_what_goes_with_it(admin_client, catalogue):
    content = admin_client.get(url("mlmodel_delete", catalogue["model"].pk)).content.decode()
    assert "taxi, with all its versions, deployment history and learned state" in content
    assert "Versions: 2" in content


def test_making_a_location_the_default_moves_the_flag(admin_client, catalogue):
    # When a new location is added as the default
    response = admin_client.post(url("location_add"), {"name": "us-east", "description": "", "make_default": "on"})
    # Then it is the only default
    assert response.status_code == 302
    assert list(Location.objects.filter(is_default=True).values_list("name", flat=True)) == ["us-east"]


# --- versions: upload and download ---------------------------------------------------------------------


def upload(client, model, data: bytes, **extra):
    form = {"model": model.pk, "artifact_file": SimpleUploadedFile("model.dill", data), "artifact_format": ""}
    form |= {"requirements": "", "message": "from admin", "description": "", "input_example": ""} | extra
    return client.post(url("modelversion_add"), form, follow=True)


def test_uploading_in_admin_registers_the_next_version_and_validates_it(
    admin_client, admin_user, regressor_bytes, django_capture_on_commit_callbacks
):
    # Given a model with one version
    model = factories.ModelVersionFactory().model
    # When a new artifact is uploaded and the request's transaction commits
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(admin_client, model, regressor_bytes, input_example='{"x": 1.0}')
    # Then it is v2, authored by the admin, and validated
    version = model.versions.get(number=2)
    assert (version.author, version.message, version.input_example) == (admin_user, "from admin", {"x": 1.0})
    assert version.sha256 == factories.artifacts.sha256_of(regressor_bytes)
    version.refresh_from_db()
    assert version.status == ModelVersion.Status.READY
    assert response.redirect_chain[-1][0] == url("modelversion_change", version.pk)
    assert f"Uploaded {version}." in messages_of(response)[0]


def test_uploading_the_same_bytes_again_shows_the_existing_version(admin_client, catalogue):
    existing = catalogue["v1"]
    response = upload(admin_client, existing.model, bytes(ModelVersion.objects.get(pk=existing.pk).artifact))
    assert messages_of(response) == [f"These bytes are already {existing}; nothing new was stored."]
    assert existing.model.versions.count() == 2


def test_an_upload_the_service_refuses_becomes_an_error_message(admin_client, settings, regressor_bytes):
    # Given a tiny artifact limit
    settings.RHYTHMIC_MAX_ARTIFACT_BYTES = 10
    model = factories.MLModelFactory()
    # When a bigger artifact is uploaded, then the page says why and nothing is stored
    response = upload(admin_client, model, regressor_bytes)
    assert response.status_code == 200
    assert "the limit is 10 (RHYTHMIC_MAX_ARTIFACT_BYTES)" in messages_of(response)[0]
    assert not model.versions.exists()


def test_an_input_example_that_is_not_an_object_is_a_form_error(admin_client, regressor_bytes):
    model = factories.MLModelFactory()
    response = upload(admin_client, model, regressor_bytes, input_example="[1, 2]")
    assert "the input example must be a JSON object of features" in response.content.decode()
    assert not model.versions.exists()


def test_versions_cannot_be_edited_or_deleted_in_admin(admin_client, catalogue):
    version = catalogue["v1"]
    assert admin_client.post(url("modelversion_change", version.pk), {"message": "edited"}).status_code == 403
    assert admin_client.post(url("modelversion_delete", version.pk), {"post": "yes"}).status_code == 403
    version.refresh_from_db()
    assert version.message == "first"


def test_downloading_an_artifact_returns_its_exact_bytes(admin_client, catalogue):
    version = ModelVersion.objects.get(pk=catalogue["v1"].pk)
    response = admin_client.get(url("modelversion_artifact", version.pk))
    assert response.status_code == 200
    assert response.content == bytes(version.artifact)
    assert response["Content-Disposition"] == 'attachment; filename="taxi-v1.dill"'


def test_downloading_an_unknown_artifact_is_a_404(admin_client):
    assert admin_client.get(url("modelversion_artifact", 999)).status_code == 404


def test_downloading_an_artifact_needs_the_view_permission(catalogue):
    # Given a staff user with no catalogue permission
    staff = factories.UserFactory(username="staff")
    staff.is_staff = True
    staff.save()
    client = Client()
    client.force_login(staff)
    # Then the artifact is refused
    assert client.get(url("modelversion_artifact", catalogue["v1"].pk)).status_code == 403


# --- actions --------------------------------------------------------------------------------------------


def test_promote_action_puts_the_selected_version_in_production(admin_client, catalogue):
    v3 = factories.ModelVersionFactory(model=catalogue["model"])
    assert act(admin_client, "modelversion", "promote", [v3]) == ["taxi v3 is now in production."]
    catalogue["model"].refresh_from_db()
    assert catalogue["model"].production_version == v3


def test_promote_action_needs_exactly_one_version(admin_client, catalogue):
    messages = act(admin_client, "modelversion", "promote", [catalogue["v1"], catalogue["v2"]])
    assert messages == ["Select exactly one version to promote; you selected 2."]
    assert Deployment.objects.count() == 1


def test_promote_action_shows_the_services_refusal(admin_client, catalogue):
    messages = act(admin_client, "modelversion", "promote", [catalogue["v2"]])
    assert messages == ["taxi v2: only ready versions can be promoted; taxi v2 is failed"]


def test_validate_again_action_revalidates_the_version(admin_client, catalogue, django_capture_on_commit_callbacks):
    # Given v2 failed, though its bytes are a good model
    with django_capture_on_commit_callbacks(execute=True):
        messages = act(admin_client, "modelversion", "validate_again", [catalogue["v2"]])
    # Then validation ran again and found it ready
    assert messages == ["taxi v2: validation queued (pending)"]
    catalogue["v2"].refresh_from_db()
    assert catalogue["v2"].status == ModelVersion.Status.READY
    assert catalogue["v2"].validation_report["ok"] is True


def test_validate_again_refuses_a_retired_version(admin_client, catalogue):
    services.version_retire(version=catalogue["v2"])
    messages = act(admin_client, "modelversion", "validate_again", [catalogue["v2"]])
    assert messages == ["taxi v2: taxi v2 is retired; it cannot be validated again"]


def test_retire_action_retires_each_version_and_reports_refusals(admin_client, catalogue):
    # Given v2 already retired
    services.version_retire(version=catalogue["v2"])
    # When v1 (live) and v2 are retired
    messages = act(admin_client, "modelversion", "retire", [catalogue["v1"], catalogue["v2"]])
    # Then v1 is retired and out of production, and v2's refusal is shown
    assert sorted(messages) == ["taxi v1 retired.", "taxi v2: taxi v2 is already retired"]
    catalogue["model"].refresh_from_db()
    assert catalogue["model"].production_version is None


def test_roll_back_action_returns_to_the_previous_version(admin_client, catalogue):
    v3 = factories.ModelVersionFactory(model=catalogue["model"])
    services.deployment_promote(version=v3)
    messages = act(admin_client, "mlmodel", "roll_back", [catalogue["model"]])
    assert messages == ["taxi rolled back from v3 to v1"]
    catalogue["model"].refresh_from_db()
    assert catalogue["model"].production_version == catalogue["v1"]


def test_roll_back_action_shows_why_it_cannot(admin_client, catalogue):
    messages = act(admin_client, "mlmodel", "roll_back", [catalogue["model"]])
    assert messages == ["taxi: taxi has no earlier ready production version to roll back to"]


def test_actions_need_the_permission_behind_them(catalogue):
    # Given a staff user who may only view versions
    staff = factories.UserFactory(username="viewer", permissions=["view_modelversion"])
    staff.is_staff = True
    staff.save()
    client = Client()
    client.force_login(staff)
    # When they try to retire, then the action is not offered and nothing changes
    client.post(url("modelversion_changelist"), {"action": "retire", ACTION_CHECKBOX_NAME: [catalogue["v1"].pk]})
    catalogue["v1"].refresh_from_db()
    assert catalogue["v1"].status == ModelVersion.Status.READY


# --- deployment history --------------------------------------------------------------------------------


def test_deployments_are_read_only(admin_client, catalogue):
    deployment = catalogue["deployment"]
    assert admin_client.get(url("deployment_add")).status_code == 403
    assert admin_client.post(url("deployment_change", deployment.pk), {"note": "x"}).status_code == 403
    assert admin_client.post(url("deployment_delete", deployment.pk), {"post": "yes"}).status_code == 403
    assert Deployment.objects.get().note == ""
