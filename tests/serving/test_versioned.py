"""serving.versioned: rows answered by a named live version, which then learns them as a canary would."""

import dill
import pytest

import serving
from catalogue import services
from catalogue.errors import Conflict, InvalidInput, NotFound
from serving import versioned
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_versions():
    """v1 in production (intercept 0), v2 a challenger (intercept 5)."""
    model = factories.MLModelFactory(name="taxi")
    v1 = factories.ModelVersionFactory(model=model, artifact=dill.dumps(factories.river_regressor(0.0)))
    v2 = factories.ModelVersionFactory(
        model=model, artifact=dill.dumps(factories.river_regressor(5.0)), input_example={"km": 1.0}
    )
    services.deployment_promote(version=v1)
    services.challenger_add(version=v2)
    return model


def test_live_lists_production_then_the_challengers_and_the_named_versions_example(two_versions):
    live = versioned.live(model="taxi", version=2)
    assert (live.flavor, live.versions, live.version, live.input_example) == ("regression", [1, 2], 2, {"km": 1.0})
    assert versioned.live(model="taxi").input_example is None


def test_a_named_version_answers_every_row_and_learns_them_by_id_with_its_own_predictions(two_versions):
    # Given rows answered by the challenger with ids
    rows = versioned.predict_rows(model="taxi", rows=[{"km": 1.0}, {"km": 2.0}], ids=["a", "b"], version=2)
    assert [(r.version, r.prediction) for r in rows.results] == [(2, 5.0), (2, 5.0)]
    # When they learn by id
    serving.learn_many(model="taxi", items=[{"id": "a", "ground_truth": 7.0}, {"id": "b", "ground_truth": 9.0}])
    # Then the challenger is scored on its own predictions, and production learned the same events beside it
    challenger = serving.metrics(model="taxi", version=2)
    assert challenger["metrics"]["MAE"] == pytest.approx((2.0 + 4.0) / 2, abs=1e-12)
    production = serving.metrics(model="taxi", version=1)
    assert (challenger["n_learned"], production["n_learned"]) == (2, 2)
    assert production["metrics"]["MAE"] == pytest.approx((7.0 + 9.0) / 2, abs=1e-12)


def test_the_input_example_of_the_answering_version_must_be_in_the_rows(two_versions):
    with pytest.raises(InvalidInput, match="missing input 'km'"):
        versioned.predict_rows(model="taxi", rows=[{"distance": 1.0}], version=2)
    assert versioned.predict_rows(model="taxi", rows=[{"distance": 1.0}]).results[0].version == 1


def test_a_version_that_is_not_live_or_does_not_exist_is_refused(two_versions):
    factories.ModelVersionFactory(model=two_versions)
    with pytest.raises(Conflict, match="taxi v3 is not live"):
        versioned.predict_rows(model="taxi", rows=[{"km": 1.0}], version=3)
    with pytest.raises(NotFound, match="taxi has no version 9"):
        versioned.ready(model="taxi", version=9)
    assert versioned.ready(model="taxi", version=2) == 2
    assert versioned.ready(model="taxi") == 1


def test_a_bad_row_is_its_own_error_and_the_others_are_answered(two_versions):
    rows = versioned.predict_rows(model="taxi", rows=[{"km": 1.0}, {"km": float("nan")}])
    assert rows.results[0].prediction == 0.0
    assert isinstance(rows.results[1], InvalidInput)
    assert rows.results[1].field == "features.km"
