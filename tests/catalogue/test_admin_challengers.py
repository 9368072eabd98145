"""Challengers in the model's admin page: an inline whose rows are added and deleted through the services."""

import pytest
from django.urls import reverse

from catalogue import services
from catalogue.models import Challenger, Deployment, ModelVersion
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def taxi():
    model = factories.MLModelFactory(name="taxi")
    v1 = factories.ModelVersionFactory(model=model)
    factories.ModelVersionFactory(model=model)
    factories.ModelVersionFactory(model=model, status=ModelVersion.Status.FAILED)
    services.deployment_promote(version=v1)
    return model


def change(client, model, challengers: list[dict], initial: int = 0):
    data = {"description": "", "metadata": "{}", "location": ""}
    data |= {"versions-TOTAL_FORMS": 0, "versions-INITIAL_FORMS": model.versions.count()}
    data |= {"challengers-TOTAL_FORMS": len(challengers), "challengers-INITIAL_FORMS": initial}
    for i, row in enumerate(challengers):
        data |= {f"challengers-{i}-{key}": value for key, value in row.items()}
    return client.post(reverse("admin:catalogue_mlmodel_change", args=[model.pk]), data, follow=True)


def test_the_model_page_shows_its_challengers_and_canary(admin_client, taxi):
    services.challenger_add(version=taxi.versions.get(number=2))
    page = admin_client.get(reverse("admin:catalogue_mlmodel_change", args=[taxi.pk])).content.decode()
    assert "challengers (versions that learn beside production" in page.lower()
    assert "taxi v2" in page


def test_adding_a_challenger_row_goes_through_the_service(admin_client, admin_user, taxi):
    v2 = taxi.versions.get(number=2)
    response = change(admin_client, taxi, [{"version": v2.pk, "model": taxi.pk}])
    assert response.status_code == 200
    assert Challenger.objects.get().version == v2
    taxi.refresh_from_db()
    assert taxi.challenger_ids == f"[{v2.pk}]"
    deployment = Deployment.objects.filter(action="add_challenger").get()
    assert (deployment.user, deployment.note) == (admin_user, "added in admin")


def test_deleting_a_challenger_row_goes_through_the_service(admin_client, taxi):
    challenger = services.challenger_add(version=taxi.versions.get(number=2))
    row = {"id": challenger.pk, "model": taxi.pk, "version": challenger.version_id, "DELETE": "on"}
    change(admin_client, taxi, [row], initial=1)
    assert not Challenger.objects.exists()
    taxi.refresh_from_db()
    assert taxi.challenger_ids == "[]"
    assert Deployment.objects.filter(action="remove_challenger").exists()


def test_the_production_version_as_a_challenger_is_refused_with_a_message(admin_client, taxi):
    response = change(admin_client, taxi, [{"version": taxi.versions.get(number=1).pk, "model": taxi.pk}])
    messages = [str(m) for m in response.context["messages"]]
    assert any("in production" in m for m in messages)
    assert not Challenger.objects.exists()
