"""The model Dashboard's panel of challengers and canary: each learning version's metrics side by side."""

import re

import pytest
from django.urls import reverse

import serving
from catalogue import services
from catalogue.models import ModelVersion
from tests import factories

pytestmark = pytest.mark.django_db


def panel(client, name: str) -> str:
    page = client.get(reverse("dashboard:model", kwargs={"name": name})).content.decode()
    return re.search(r'<section class="card" id="lifecycle".*?</section>', page, re.DOTALL).group(0)


def test_the_panel_shows_production_canary_and_challengers_with_their_metrics(reader_web, served_model):
    v3 = factories.ModelVersionFactory(model=served_model)
    services.challenger_add(version=served_model.versions.get(number=2))
    services.canary_set(version=v3, percent=15)
    for x in range(5):
        serving.learn(model=served_model.name, features={"x": float(x)}, ground_truth=2.0 * x)
    html = panel(reader_web, served_model.name)
    rows = re.findall(r'<tr data-role="(\w+)">\s*<th scope="row">v(\d+)</th>', html)
    assert rows == [("production", "1"), ("canary", "3"), ("challenger", "2")]
    assert "15% of predictions" in html
    mae = serving.metrics(model=served_model.name, version=2)["metrics"]["MAE"]
    assert f"{mae:.4g}" in html
    assert ">5<" in html  # each learned the five events


def test_without_challenger_or_canary_the_panel_says_so(reader_web, served_model):
    assert "No challenger or canary" in panel(reader_web, served_model.name)


def test_a_model_without_production_still_renders(reader_web):
    model = factories.MLModelFactory(name="fresh")
    factories.ModelVersionFactory(model=model, status=ModelVersion.Status.FAILED)
    assert "No challenger or canary" in panel(reader_web, "fresh")
