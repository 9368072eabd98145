"""The model and Monitoring pages of the new flavors: a forecaster's per-step lists, a clusterer's sizes."""

import pytest
from django.urls import reverse
from river import cluster, time_series

import serving
from tests.serving.flavor_helpers import airline, live_model

pytestmark = pytest.mark.django_db


def test_a_forecasters_pages_render_with_its_per_step_metrics(maintainer_web):
    live_model(time_series.SNARIMAX(p=1, d=0, q=0), flavor="forecasting", name="sales", options={"horizon": 2})
    for x, y in airline(20):
        serving.learn(model="sales", ground_truth=y, features=x)
    for route in ("dashboard:model", "dashboard:monitoring"):
        assert maintainer_web.get(reverse(route, kwargs={"name": "sales"})).status_code == 200


def test_a_clusterers_monitoring_page_charts_each_clusters_size(maintainer_web):
    live_model(cluster.KMeans(n_clusters=2, seed=1), flavor="clustering", name="groups")
    for a in (0.0, 10.0, 0.2, 9.0):
        serving.learn(model="groups", features={"a": a})
    page = maintainer_web.get(reverse("dashboard:monitoring", kwargs={"name": "groups"}))
    assert page.status_code == 200
    assert "n_clusters,cluster_" in page.content.decode()
