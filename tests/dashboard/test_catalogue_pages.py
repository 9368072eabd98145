"""The Catalogue page, model creation and deletion, login and the site's layout."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

import serving
from catalogue import services
from catalogue.models import MLModel
from monitoring.models import MetricSnapshot
from serving.models import LearnEvent
from tests import factories

pytestmark = pytest.mark.django_db

HOME = reverse("dashboard:home")
CREATE = reverse("dashboard:model-create")


# --- access ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [HOME, CREATE, "/models/any/", "/models/any/monitoring/", "/settings/", "/models/any/versions/new/"],
)
def test_anonymous_visitors_are_sent_to_the_login_page(client, url):
    # when
    response = client.get(url)
    # then
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_the_login_page_logs_a_user_in_and_goes_to_the_catalogue(client, maintainer):
    # given
    assert client.get("/accounts/login/").status_code == 200
    # when
    response = client.post("/accounts/login/", {"username": "maintainer", "password": "correct-horse-battery"})
    # then
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get(HOME).status_code == 200


def test_a_wrong_password_is_refused_on_the_login_page(client, maintainer):
    # when
    response = client.post("/accounts/login/", {"username": "maintainer", "password": "wrong"})
    # then
    assert response.status_code == 200
    assert "enter a correct username and password" in response.content.decode()


def test_staff_see_a_link_to_the_admin(db):
    # given
    staff = Client()
    staff.force_login(factories.UserFactory(username="staff", is_staff=True))
    # when
    page = staff.get(HOME).content.decode()
    # then
    assert 'href="/admin/"' in page


def test_other_users_see_no_link_to_the_admin(reader_web):
    # when
    page = reader_web.get(HOME).content.decode()
    # then
    assert 'href="/admin/"' not in page


def test_a_form_posted_without_its_csrf_token_is_refused(maintainer):
    # given
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(maintainer)
    # when
    response = browser.post(CREATE, {"name": "forged", "flavor": "regression"})
    # then
    assert response.status_code == 403
    assert not MLModel.objects.filter(name="forged").exists()


# --- the Catalogue ---------------------------------------------------------------------------------


def test_the_empty_catalogue_says_how_to_create_a_model(maintainer_web):
    # when
    page = maintainer_web.get(HOME).content.decode()
    # then
    assert "No models yet" in page
    assert CREATE in page


def test_the_empty_catalogue_tells_a_reader_whom_to_ask(reader_web):
    # when
    page = reader_web.get(HOME).content.decode()
    # then
    assert "ask an administrator" in page
    assert CREATE not in page


def test_the_catalogue_lists_each_model_with_flavor_location_production_and_latest_version(maintainer_web):
    # given
    location = factories.LocationFactory(name="eu-west")
    model = factories.MLModelFactory(name="fraud", flavor="binary", location=location)
    v1 = factories.ModelVersionFactory(model=model)
    factories.ModelVersionFactory(model=model, status="failed")
    services.deployment_promote(version=v1)
    # when
    response = maintainer_web.get(HOME)
    # then
    page = response.content.decode()
    assert response.status_code == 200
    assert "fraud" in page
    assert "Binary classification" in page
    assert "eu-west" in page
    assert "v1</span>" in page
    assert "v2" in page and "badge-bad" in page


def test_the_catalogue_counts_learns_of_the_last_hour_only(maintainer_web, served_model):
    # given three learns, one of them two hours old
    for x in (1.0, 2.0, 3.0):
        serving.learn(model=served_model.name, features={"x": x}, ground_truth=2 * x)
    old = LearnEvent.objects.order_by("seq").first()
    LearnEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=2))
    # when
    row = maintainer_web.get(HOME).context["rows"][0]
    # then
    assert row["learns"] == 2


def test_the_catalogue_shows_the_production_versions_headline_metric(maintainer_web, served_model):
    # given
    serving.learn(model=served_model.name, features={"x": 1.0}, ground_truth=3.0)
    expected = serving.metrics(model=served_model.name)["metrics"]["MAE"]
    # when
    row = maintainer_web.get(HOME).context["rows"][0]
    # then
    assert row["metric"] == "MAE"
    assert row["value"] == pytest.approx(expected)


def test_the_catalogue_shows_no_headline_metric_without_a_production_version(maintainer_web):
    # given
    factories.ModelVersionFactory(model=factories.MLModelFactory(name="idle"))
    # when
    row = maintainer_web.get(HOME).context["rows"][0]
    # then
    assert row["value"] is None
    assert row["why"] == "no production version"


def test_the_catalogue_counts_the_predictions_this_process_answered(maintainer_web, served_model):
    # given
    serving.predict(model=served_model.name, features={"x": 1.0})
    serving.predict(model=served_model.name, features={"x": 2.0})
    # when
    row = maintainer_web.get(HOME).context["rows"][0]
    # then
    assert row["predictions"] == 2


def test_the_catalogue_draws_a_trend_line_from_metric_snapshots(maintainer_web, served_model):
    # given
    for seq, mae in enumerate((3.0, 2.0, 1.0), start=1):
        MetricSnapshot.objects.create(
            model=served_model, version=served_model.production_version, state_seq=seq, metrics={"MAE": mae}
        )
    # when
    response = maintainer_web.get(HOME)
    # then
    assert response.context["rows"][0]["trend"] == [3.0, 2.0, 1.0]
    assert '<svg class="sparkline"' in response.content.decode()


# --- creating a model ------------------------------------------------------------------------------


def test_a_maintainer_creates_a_model_and_is_sent_to_upload_its_first_version(maintainer_web, maintainer):
    # given
    factories.LocationFactory(name="eu-west")
    form = {
        "name": "churn",
        "flavor": "binary",
        "location": "eu-west",
        "description": "Who leaves",
        "metadata": "team: growth\nowner: alice",
    }
    # when
    response = maintainer_web.post(CREATE, form)
    # then
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:version-upload", kwargs={"name": "churn"})
    model = MLModel.objects.get(name="churn")
    assert (model.flavor, model.location.name, model.owner) == ("binary", "eu-west", maintainer)
    assert model.metadata == {"team": "growth", "owner": "alice"}


def test_a_model_created_without_a_location_goes_to_the_default_one(maintainer_web):
    # given
    services.location_create(name="main", is_default=True)
    # when
    maintainer_web.post(CREATE, {"name": "churn", "flavor": "binary"})
    # then
    assert MLModel.objects.get(name="churn").location.name == "main"


def test_creating_a_model_with_a_taken_name_says_so(maintainer_web):
    # given
    factories.MLModelFactory(name="churn")
    # when
    response = maintainer_web.post(CREATE, {"name": "churn", "flavor": "binary"})
    # then
    assert response.status_code == 409
    assert "a model named &#x27;churn&#x27; already exists" in response.content.decode()


def test_creating_a_model_with_an_invalid_name_shows_the_naming_rule(maintainer_web):
    # when
    response = maintainer_web.post(CREATE, {"name": "Bad Name", "flavor": "binary"})
    # then
    assert response.status_code == 400
    assert "lowercase letters, digits" in response.content.decode()
    assert not MLModel.objects.exists()


def test_metadata_lines_without_a_colon_are_refused_with_the_line_number(maintainer_web):
    # when
    response = maintainer_web.post(CREATE, {"name": "churn", "flavor": "binary", "metadata": "team: a\nnonsense"})
    # then
    assert response.status_code == 400
    assert "line 2" in response.content.decode()
    assert not MLModel.objects.exists()


def test_a_user_without_add_mlmodel_cannot_create_a_model(reader_web):
    # when
    response = reader_web.post(CREATE, {"name": "churn", "flavor": "binary"})
    # then
    assert response.status_code == 403
    assert "catalogue.add_mlmodel" in response.content.decode()
    assert not MLModel.objects.exists()


# --- deleting a model ------------------------------------------------------------------------------


def test_the_delete_page_spells_out_what_is_deleted(maintainer_web, served_model):
    # given
    serving.learn(model=served_model.name, features={"x": 1.0}, ground_truth=2.0)
    # when
    response = maintainer_web.get(reverse("dashboard:model-delete", kwargs={"name": served_model.name}))
    # then
    page = response.content.decode()
    assert response.status_code == 200
    assert "2 versions" in page
    assert "learn log (1 entry)" in page
    assert "deployment history (1 change)" in page
    assert "cannot be undone" in page


def test_confirming_the_deletion_deletes_the_model(maintainer_web, served_model):
    # when
    response = maintainer_web.post(reverse("dashboard:model-delete", kwargs={"name": served_model.name}))
    # then
    assert response.status_code == 302
    assert not MLModel.objects.filter(name=served_model.name).exists()


def test_a_user_without_delete_mlmodel_cannot_delete_a_model(reader_web, served_model):
    # when
    response = reader_web.post(reverse("dashboard:model-delete", kwargs={"name": served_model.name}))
    # then
    assert response.status_code == 403
    assert MLModel.objects.filter(name=served_model.name).exists()


@pytest.mark.parametrize(
    "route", ["model", "model-update", "model-delete", "model-rollback", "compare", "version-upload", "monitoring"]
)
def test_pages_of_an_unknown_model_answer_404(maintainer_web, route):
    # when
    response = maintainer_web.get(reverse(f"dashboard:{route}", kwargs={"name": "nope"}))
    # then
    assert response.status_code == 404
    assert "no model named &#x27;nope&#x27;" in response.content.decode()


def test_a_forecasting_model_is_created_with_its_metrics_horizon(maintainer_web):
    response = maintainer_web.post(CREATE, {"name": "sales", "flavor": "forecasting", "horizon": "6"})
    assert response.status_code == 302
    assert MLModel.objects.get(name="sales").options == {"horizon": 6}


def test_a_horizon_on_another_flavor_is_refused_on_the_form(maintainer_web):
    response = maintainer_web.post(CREATE, {"name": "churn", "flavor": "binary", "horizon": "6"})
    assert response.status_code == 400
    assert "takes none" in response.content.decode()
    assert not MLModel.objects.filter(name="churn").exists()
