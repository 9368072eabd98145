"""The model page tells how clients call the production version, the Open Inference Protocol included."""

import pytest

from catalogue import services
from tests import factories

pytestmark = pytest.mark.django_db


def test_the_model_page_names_the_protocol_route_and_the_inputs_of_the_production_version(reader_web):
    model = factories.MLModelFactory(name="taxi")
    version = factories.ModelVersionFactory(model=model, input_example={"km": 1.0, "city": "Paris"})
    services.deployment_promote(version=version)
    page = reader_web.get("/models/taxi/").content.decode()
    assert "<code>POST /v2/models/taxi/infer</code>, one input per feature: <code>km</code>, <code>city</code>" in page


def test_the_model_page_has_no_protocol_hint_without_production(reader_web):
    factories.MLModelFactory(name="empty")
    assert 'id="oip-hint"' not in reader_web.get("/models/empty/").content.decode()
