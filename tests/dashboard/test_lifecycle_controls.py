"""The Dashboard's lifecycle controls: add and remove challengers, set and end the canary, from the model page."""

import json
import re

import pytest
from django.test import Client
from django.urls import reverse

import serving
from catalogue import selectors, services
from catalogue.models import Deployment, MLModel, ModelVersion
from monitoring import history as monitoring_history
from tests import factories

pytestmark = pytest.mark.django_db


def url(name: str, *args, model: str = "house-prices") -> str:
    return reverse(f"dashboard:{name}", args=[model, *args])


def challengers(model: MLModel) -> list[int]:
    return [c.version.number for c in selectors.challenger_list(model=model)]


def lifecycle_section(html: str) -> str:
    return re.search(r'<section class="card" id="lifecycle".*?</section>', html, re.DOTALL).group(0)


# --- adding and removing a challenger --------------------------------------------------------------


def test_a_maintainer_adds_a_ready_version_as_a_challenger(maintainer_web, served_model):
    response = maintainer_web.post(url("challenger-add"), {"version": "2", "note": "try the new features"})
    assert response.status_code == 302
    assert response["Location"] == url("model") + "#lifecycle"
    assert challengers(served_model) == [2]
    added = Deployment.objects.filter(model=served_model, action=Deployment.Action.ADD_CHALLENGER).get()
    assert (added.to_version.number, added.note) == (2, "try the new features")
    page = maintainer_web.get(response["Location"]).content.decode()
    assert "house-prices v2 is a challenger" in page
    assert re.search(r'<tr data-role="challenger">\s*<th scope="row">v2</th>', page)


def test_adding_the_production_version_shows_the_services_refusal_on_the_form(maintainer_web, served_model):
    response = maintainer_web.post(url("challenger-add"), {"version": "1"})
    assert response.status_code == 409
    panel = lifecycle_section(response.content.decode())
    assert "house-prices v1 is in production; it cannot also be a challenger" in panel
    assert challengers(served_model) == []


def test_adding_a_version_that_is_not_ready_is_a_conflict(maintainer_web, served_model):
    factories.ModelVersionFactory(model=served_model, status=ModelVersion.Status.FAILED)
    response = maintainer_web.post(url("challenger-add"), {"version": "3"})
    assert response.status_code == 409
    assert "only ready versions can be a challenger; house-prices v3 is failed" in response.content.decode()


def test_adding_an_unknown_version_is_not_found_on_the_form(maintainer_web, served_model):
    response = maintainer_web.post(url("challenger-add"), {"version": "99"})
    assert response.status_code == 404
    assert "house-prices has no version 99" in lifecycle_section(response.content.decode())


def test_adding_without_a_version_is_a_bad_request(maintainer_web, served_model):
    response = maintainer_web.post(url("challenger-add"), {})
    assert response.status_code == 400
    assert "This field is required." in lifecycle_section(response.content.decode())


def test_a_maintainer_removes_a_challenger(maintainer_web, served_model):
    services.challenger_add(version=served_model.versions.get(number=2))
    response = maintainer_web.post(url("challenger-remove", 2))
    assert response.status_code == 302
    assert challengers(served_model) == []
    assert "house-prices v2 is no longer a challenger" in maintainer_web.get(response["Location"]).content.decode()


def test_removing_a_version_that_is_not_a_challenger_shows_why(maintainer_web, served_model):
    response = maintainer_web.post(url("challenger-remove", 2))
    assert response.status_code == 404
    assert 'id="lifecycle-error"><p>house-prices v2 is not a challenger' in response.content.decode()


# --- the canary ------------------------------------------------------------------------------------


def test_a_maintainer_sets_the_canary_with_its_share(maintainer_web, served_model):
    response = maintainer_web.post(url("canary-set"), {"version": "2", "percent": "12.5", "note": "a first look"})
    assert response.status_code == 302
    served_model.refresh_from_db()
    assert (served_model.canary_version.number, served_model.canary_percent) == (2, 12.5)
    assert Deployment.objects.get(model=served_model, action=Deployment.Action.SET_CANARY).note == "a first look"
    page = maintainer_web.get(response["Location"]).content.decode()
    assert "house-prices v2 is the canary: it answers 12.5% of predictions" in page
    assert "12.5% of predictions" in lifecycle_section(page)


def test_a_challenger_made_the_canary_stops_being_a_challenger(maintainer_web, served_model):
    services.challenger_add(version=served_model.versions.get(number=2))
    assert maintainer_web.post(url("canary-set"), {"version": "2", "percent": "50"}).status_code == 302
    assert challengers(served_model) == []
    assert MLModel.objects.get(pk=served_model.pk).canary_version.number == 2


@pytest.mark.parametrize("percent", ["0", "150", "-5"])
def test_a_share_out_of_range_shows_the_services_message(maintainer_web, served_model, percent):
    response = maintainer_web.post(url("canary-set"), {"version": "2", "percent": percent})
    assert response.status_code == 400
    assert "percent must be a number above 0 and at most 100" in lifecycle_section(response.content.decode())
    assert MLModel.objects.get(pk=served_model.pk).canary_version_id is None


def test_a_share_that_is_not_a_number_is_a_bad_request(maintainer_web, served_model):
    response = maintainer_web.post(url("canary-set"), {"version": "2", "percent": "lots"})
    assert response.status_code == 400
    assert "Enter a number." in lifecycle_section(response.content.decode())


def test_a_maintainer_ends_the_canary(maintainer_web, served_model):
    services.canary_set(version=served_model.versions.get(number=2), percent=30)
    response = maintainer_web.post(url("canary-end"))
    assert response.status_code == 302
    assert MLModel.objects.get(pk=served_model.pk).canary_version_id is None
    assert "canary ended" in maintainer_web.get(response["Location"]).content.decode()


def test_ending_a_canary_that_does_not_exist_shows_why(maintainer_web, served_model):
    response = maintainer_web.post(url("canary-end"))
    assert response.status_code == 404
    assert "house-prices has no canary" in lifecycle_section(response.content.decode())


# --- permissions, methods, CSRF --------------------------------------------------------------------


def test_a_reader_sees_the_panel_without_controls(reader_web, served_model):
    services.challenger_add(version=served_model.versions.get(number=2))
    panel = lifecycle_section(reader_web.get(url("model")).content.decode())
    assert re.search(r'<tr data-role="challenger">', panel)
    assert "Add challenger" not in panel and "Remove" not in panel and "Set canary" not in panel
    assert "needs the catalogue.change_mlmodel permission" in panel


def test_a_maintainer_sees_the_controls_with_the_versions_they_may_choose(maintainer_web, served_model):
    factories.ModelVersionFactory(model=served_model)  # v3, ready
    services.challenger_add(version=served_model.versions.get(number=2))
    panel = lifecycle_section(maintainer_web.get(url("model")).content.decode())
    challenger_select = re.search(r'<select name="version" id="challenger-version".*?</select>', panel).group(0)
    canary_select = re.search(r'<select name="version" id="canary-version".*?</select>', panel).group(0)
    assert re.findall(r'value="(\d+)"', challenger_select) == ["3"]  # v1 is production, v2 a challenger already
    assert re.findall(r'value="(\d+)"', canary_select) == ["3", "2"]  # newest first, as the versions
    assert "Remove<span" in panel


@pytest.mark.parametrize(
    ("route", "args", "data"),
    [
        ("challenger-add", [], {"version": "2"}),
        ("challenger-remove", [2], {}),
        ("canary-set", [], {"version": "2", "percent": "10"}),
        ("canary-end", [], {}),
    ],
)
def test_a_reader_may_not_change_challengers_or_the_canary(reader_web, served_model, route, args, data):
    response = reader_web.post(url(route, *args), data)
    assert response.status_code == 403
    assert "needs the catalogue.change_mlmodel permission" in response.content.decode()
    served_model.refresh_from_db()
    assert (challengers(served_model), served_model.canary_version_id) == ([], None)


def test_the_controls_only_answer_posts(maintainer_web, served_model):
    assert maintainer_web.get(url("challenger-add")).status_code == 405
    assert maintainer_web.get(url("canary-end")).status_code == 405


def test_a_post_without_the_csrf_token_is_refused(maintainer, served_model):
    client = Client(enforce_csrf_checks=True)
    client.force_login(maintainer)
    assert client.post(url("challenger-add"), {"version": "2"}).status_code == 403
    assert challengers(served_model) == []
    panel = lifecycle_section(client.get(url("model")).content.decode())
    assert panel.count('name="csrfmiddlewaretoken"') == 2  # the add and the canary forms carry one


def test_an_anonymous_visitor_is_sent_to_log_in(client, served_model):
    response = client.post(url("challenger-add"), {"version": "2"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- the chart and the policy beside it ------------------------------------------------------------


def chart_data(html: str) -> dict:
    found = re.search(r'<script id="lifecycle-chart-data" type="application/json">(.*?)</script>', html, re.DOTALL)
    return json.loads(found.group(1))


def test_the_chart_has_a_labelled_series_per_learning_version_with_the_snapshots_log_entries(
    maintainer_web, served_model
):
    v3 = factories.ModelVersionFactory(model=served_model)
    services.challenger_add(version=served_model.versions.get(number=2))
    services.canary_set(version=v3, percent=20)
    for x in range(3):
        serving.learn(model=served_model.name, features={"x": float(x)}, ground_truth=2.0 * x)
        monitoring_history.snapshot_model(served_model.name, [1, 2, 3])
    data = chart_data(maintainer_web.get(url("model")).content.decode())
    assert data["headline"] == "MAE"
    series = data["series"]["MAE"]
    assert sorted(series) == ["canary v3", "challenger v2", "production v1"]
    assert data["versions"] == {"production v1": 1, "canary v3": 3, "challenger v2": 2}
    for label, number in data["versions"].items():
        assert [point[0] for point in series[label]] == [1, 2, 3]
        now = serving.metrics(model=served_model.name, version=number)["metrics"]["MAE"]
        assert series[label][-1][1] == pytest.approx(now, abs=1e-12)
    assert data["rewind_url"] == url("rewind")


def test_a_reader_sees_the_chart_without_the_rewind_link(reader_web, served_model):
    data = chart_data(reader_web.get(url("model")).content.decode())
    assert data["rewind_url"] is None
    assert list(data["versions"]) == ["production v1"]


def test_the_policy_and_its_decision_are_beside_the_chart(reader_web, served_model):
    page = reader_web.get(url("model")).content.decode()
    side = re.search(r'<div class="grid-2 lifecycle-side">.*?id="policy".*?</section>', page, re.DOTALL)
    assert side is not None and 'id="lifecycle-chart"' in side.group(0)
    assert page.count('id="policy"') == 1


def test_the_rewind_preview_opens_prefilled_from_a_chart_point(maintainer_web, served_model):
    for x in range(4):
        serving.learn(model=served_model.name, features={"x": float(x)}, ground_truth=2.0 * x)
    response = maintainer_web.get(url("rewind"), {"version": "1", "to_seq": "2"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "This undoes <strong>2</strong> learned entries of v1" in page
    assert 'name="to_seq" value="2"' in page
