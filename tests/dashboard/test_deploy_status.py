"""Deployment status on the pages: where a model is deployed, the instances serving it, each deploy's record."""

import pytest
from django.urls import reverse
from django.utils import timezone

from serving import deploy
from serving.models import Instance
from tests import factories

pytestmark = pytest.mark.django_db


def beating(key: str, *, location: str = "", models: dict | None = None, beat_ago: float = 0) -> Instance:
    now = timezone.now()
    return Instance.objects.create(
        key=key,
        host="web",
        pid=1,
        kind=Instance.Kind.WSGI,
        location=location,
        started_at=now,
        last_beat=now - timezone.timedelta(seconds=beat_ago),
        models=models or {},
    )


@pytest.mark.no_instance
def test_the_model_page_shows_the_location_and_each_instance_serving_it(maintainer_web, served_model):
    eu = factories.LocationFactory(name="eu")
    type(served_model).objects.filter(pk=served_model.pk).update(location=eu)
    beating("web:1:a", location="eu", models={"house-prices": {"versions": [1], "applied_seq": 3, "lag": 0}})
    beating("web:2:b", models={"house-prices": {"versions": [1], "applied_seq": 1, "lag": 2}})
    beating("web:3:c", location="eu")
    beating("web:4:d", location="eu", beat_ago=3600)
    beating("web:5:e", location="us")  # serves another location: not listed
    page = maintainer_web.get(reverse("dashboard:model", kwargs={"name": "house-prices"})).content.decode()
    assert "Deployed to location <strong>eu</strong>, served by 4 instances:" in page
    statuses = {key: status for key, status in (("web:1:a", "ready"), ("web:2:b", "lagging"), ("web:3:c", "idle"))}
    for key, status in {**statuses, "web:4:d": "lost"}.items():
        assert f'<li data-instance-status="{status}"><code>{key}</code>' in page
    assert "web:5:e" not in page
    home = maintainer_web.get(reverse("dashboard:home")).content.decode()
    assert "1 ready, 1 lagging, 1 idle, 1 lost" in home


@pytest.mark.no_instance
def test_a_model_no_instance_serves_says_a_deploy_would_fail(maintainer_web, served_model):
    page = maintainer_web.get(reverse("dashboard:model", kwargs={"name": "house-prices"})).content.decode()
    assert "no serving process has registered for it; a deploy there fails until one does." in page


def test_the_deploys_card_shows_each_deploy_with_each_instances_record(maintainer_web, served_model):
    # Given a deploy that succeeded on this process and one that failed on a lost package
    deploy.deploy(version=served_model.versions.get(number=2), user=None)
    v3 = factories.ModelVersionFactory(model=served_model, requirements="no-such-package")
    deploy.deploy(version=v3)
    page = maintainer_web.get(reverse("dashboard:model", kwargs={"name": "house-prices"})).content.decode()
    card = page[page.index('id="deploys"') :]
    assert "<strong>v2</strong> to no location" in card
    assert '<span class="badge badge-ok">succeeded</span>' in card
    assert '<span class="badge badge-ok">ready</span> <span class="sub">at #0' in card
    assert "lacks package no-such-package (v3 needs no-such-package)" in card
    # The card follows deploys live (jobs.js: the deploy_task events, and the deploy's JSON while unfinished)
    assert 'data-job-type="deploy_task" data-job-row="deploy"' in page
    assert 'data-api="/api/v1/deployments/"' in page and "dashboard/jobs.js" in page
    assert 'data-status="succeeded"' in card and "<span data-deploy-status>" in card


def deploy_url(number: int) -> str:
    return reverse("dashboard:version-deploy", kwargs={"name": "house-prices", "number": number})


def test_the_deploy_form_offers_every_location_and_moves_the_model(maintainer_web, served_model):
    factories.LocationFactory(name="eu")
    form = maintainer_web.get(deploy_url(2)).content.decode()
    assert '<option value="" selected>no location</option>' in form and '<option value="eu">eu</option>' in form
    response = maintainer_web.post(deploy_url(2), {"location": "eu", "timeout_s": "5", "note": "to eu"})
    assert response.status_code == 302
    served_model.refresh_from_db()
    assert (served_model.location.name, served_model.production_version.number) == ("eu", 2)
    task = deploy.list_for(model=served_model).get()
    assert response["Location"].endswith(f"#deploy-{task.pk}")
    assert (task.note, task.timeout_s) == ("to eu", 5.0)


@pytest.mark.no_instance
def test_a_failed_deploy_from_the_page_says_why_and_production_stays(maintainer_web, served_model):
    response = maintainer_web.post(deploy_url(2), {"location": ""}, follow=True)
    assert "The deploy failed: no live instance serves no location" in response.content.decode()
    served_model.refresh_from_db()
    assert served_model.production_version.number == 1


def test_a_bad_timeout_is_shown_on_the_form(maintainer_web, served_model):
    response = maintainer_web.post(deploy_url(2), {"timeout_s": "-3"})
    assert response.status_code == 400
    assert "timeout_s must be above 0 and at most 3600, not -3.0" in response.content.decode()


def test_a_reader_may_not_deploy(reader_web, served_model):
    response = reader_web.get(deploy_url(2))
    assert response.status_code == 403
    assert "deploying a version needs the catalogue.change_mlmodel permission" in response.content.decode()
