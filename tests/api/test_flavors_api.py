"""The forecasting, clustering and recommendation flavors through the REST API, the WebSocket and chantilly's
routes: happy paths equal to river, and every error path answering a 4xx in the one error shape."""

import dill
import pytest
from river import cluster, evaluate, metrics, optim, reco, time_series

from catalogue import services
from catalogue.models import MLModel
from tests import factories
from tests.serving.flavor_helpers import airline

pytestmark = pytest.mark.django_db


def promote(name: str, obj) -> None:
    version = factories.ModelVersionFactory(model=MLModel.objects.get(name=name), artifact=dill.dumps(obj))
    services.deployment_promote(version=version)


def snarimax():
    return time_series.SNARIMAX(p=2, d=1, q=1)


def url(name: str, route: str) -> str:
    return f"/api/v1/models/{name}/{route}"


def assert_error(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["message"]
    if field is not None:
        assert error["field"] == field
    return error


@pytest.fixture
def forecaster(maintainer_client):
    created = maintainer_client.post(
        "/api/v1/models/", {"name": "sales", "flavor": "forecasting", "options": {"horizon": 3}}, format="json"
    )
    assert created.status_code == 201, created.content
    assert created.json()["options"] == {"horizon": 3}
    promote("sales", snarimax())
    return "sales"


def test_a_forecaster_learns_forecasts_and_scores_per_step_over_rest(maintainer_client, forecaster):
    stream = airline(40)
    for x, y in stream:
        assert (
            maintainer_client.post(
                url(forecaster, "learn"), {"ground_truth": y, "features": x}, format="json"
            ).status_code
            == 201
        )
    xs = [{"month": 5}, {"month": 6}, {"month": 7}]
    reference = snarimax()
    for x, y in stream:
        reference.learn_one(y=y, x=x)
    answer = maintainer_client.post(url(forecaster, "predict"), {"horizon": 3, "features": xs}, format="json")
    assert answer.status_code == 200
    assert answer.json()["prediction"] == reference.forecast(3, xs=xs)
    served = maintainer_client.get(url(forecaster, "metrics")).json()["metrics"]
    assert served["MAE"] == pytest.approx(evaluate.evaluate(stream, snarimax(), metrics.MAE(), horizon=3).get())


def test_the_batch_routes_take_a_horizon_per_item(maintainer_client, forecaster):
    maintainer_client.post(
        url(forecaster, "learn-many"), [{"ground_truth": float(i)} for i in range(10)], format="json"
    )
    results = maintainer_client.post(
        url(forecaster, "predict-many"), [{"horizon": 2}, {"horizon": 0}, {"features": {"x": 1}}], format="json"
    ).json()["results"]
    assert len(results[0]["prediction"]) == 2
    assert results[1]["error"]["field"] == "horizon"
    assert results[2]["error"]["field"] == "horizon"


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "horizon"),
        ({"horizon": 0}, "horizon"),
        ({"horizon": "2"}, "horizon"),
        ({"horizon": 2, "features": [{}]}, "features"),
        ({"horizon": 2, "features": {"month": 1}}, "features"),
        ({"horizon": 1, "id": 3}, "id"),
    ],
)
def test_bad_forecasts_are_400s(maintainer_client, forecaster, body, field):
    assert_error(maintainer_client.post(url(forecaster, "predict"), body, format="json"), 400, field)


@pytest.mark.parametrize(
    "options, field",
    [({"horizon": 0}, "options"), ({"horizon": 2000}, "options"), ({"lag": 1}, "options"), ("12", "options")],
)
def test_bad_options_at_creation_are_400s(maintainer_client, options, field):
    response = maintainer_client.post(
        "/api/v1/models/", {"name": "bad", "flavor": "forecasting", "options": options}, format="json"
    )
    assert_error(response, 400, field)
    assert not MLModel.objects.filter(name="bad").exists()


def test_a_clusterer_learns_features_only_over_rest(maintainer_client):
    services.model_create(name="groups", flavor="clustering")
    promote("groups", cluster.KMeans(n_clusters=2, seed=1))
    reference = cluster.KMeans(n_clusters=2, seed=1)
    for x in ({"a": 0.0}, {"a": 10.0}, {"a": 0.5}, {"a": 9.0}):
        assert maintainer_client.post(url("groups", "learn"), {"features": x}, format="json").status_code == 201
        reference.learn_one(x)
    answer = maintainer_client.post(url("groups", "predict"), {"features": {"a": 9.5}}, format="json").json()
    assert answer["prediction"] == reference.predict_one({"a": 9.5})
    assert maintainer_client.get(url("groups", "metrics")).json()["metrics"]["n_clusters"] >= 1
    refused = maintainer_client.post(url("groups", "learn"), {"features": {"a": 1.0}, "ground_truth": 1}, format="json")
    assert_error(refused, 400, "ground_truth")


@pytest.fixture
def recommender():
    services.model_create(name="films", flavor="recommendation")
    promote("films", reco.Baseline(optimizer=optim.SGD(0.05)))
    return "films"


def test_rank_answers_the_items_best_first(maintainer_client, recommender):
    reference = reco.Baseline(optimizer=optim.SGD(0.05))
    for item, rating in (("alien", 5.0), ("heat", 2.0), ("up", 4.0)):
        body = {"features": {"user": "ann", "item": item}, "ground_truth": rating}
        assert maintainer_client.post(url(recommender, "learn"), body, format="json").status_code == 201
        reference.learn_one("ann", item, rating)
    answer = maintainer_client.post(
        url(recommender, "rank"), {"user": "bob", "items": ["heat", "up", "alien"]}, format="json"
    )
    assert answer.status_code == 200
    assert answer.json() == {
        "model": "films",
        "version": 1,
        "user": "bob",
        "items": reference.rank("bob", ["heat", "up", "alien"]),
        "state_seq": 3,
    }


@pytest.mark.parametrize(
    "body, field",
    [
        ({"items": ["a"]}, "user"),
        ({"user": "ann"}, "items"),
        ({"user": "ann", "items": []}, "items"),
        ({"user": "ann", "items": [["a"]]}, "items[0]"),
        ({"user": "ann", "items": ["a"], "context": "x"}, "context"),
    ],
)
def test_bad_rank_requests_are_400s(maintainer_client, recommender, body, field):
    assert_error(maintainer_client.post(url(recommender, "rank"), body, format="json"), 400, field)


def test_rank_is_refused_on_other_flavors_and_unknown_models(maintainer_client, forecaster):
    error = assert_error(
        maintainer_client.post(url(forecaster, "rank"), {"user": "a", "items": ["b"]}, format="json"), 400
    )
    assert error["code"] == "wrong_flavor"
    assert_error(maintainer_client.post(url("ghost", "rank"), {"user": "a", "items": ["b"]}, format="json"), 404)
    assert_error(maintainer_client.post(url(forecaster, "rank"), ["not an object"], format="json"), 400)


def test_rank_needs_the_inference_permission(reader_client, recommender):
    response = reader_client.post(url(recommender, "rank"), {"user": "a", "items": ["b"]}, format="json")
    assert_error(response, 403)


def test_a_predict_without_user_is_a_400(maintainer_client, recommender):
    body = {"features": {"item": "up"}}
    assert_error(maintainer_client.post(url(recommender, "predict"), body, format="json"), 400, "features.user")


@pytest.mark.parametrize("flavor", ["forecasting", "clustering", "recommendation"])
def test_chantilly_refuses_the_new_flavors_clearly(maintainer_client, flavor):
    error = assert_error(maintainer_client.post("/api/init", {"flavor": flavor}, format="json"), 400, "flavor")
    assert "/api/v1/models/" in error["message"]


@pytest.mark.django_db(transaction=True)
def test_the_websocket_streams_forecasts_cluster_learns_and_refusals(maintainer):
    from rest_framework.authtoken.models import Token

    from tests.api.test_infer_ws import talk

    token = Token.objects.get_or_create(user=maintainer)[0].key
    services.model_create(name="sales", flavor="forecasting", options={"horizon": 2})
    promote("sales", snarimax())
    services.model_create(name="groups", flavor="clustering")
    promote("groups", cluster.KMeans(n_clusters=2, seed=1))
    # A forecaster: learns, then a forecast of 2 steps; a bad horizon answers its error on the same connection
    frames = [{"op": "learn", "rid": i, "ground_truth": float(i)} for i in range(5)]
    frames += [{"op": "predict", "rid": "f", "horizon": 2}, {"op": "predict", "rid": "bad", "horizon": -1}]
    answers = {a["rid"]: a for a in talk(frames, token=token, model="sales")}
    reference = snarimax()
    for i in range(5):
        reference.learn_one(y=float(i), x={})
    assert answers["f"]["prediction"] == reference.forecast(2, xs=None)
    assert answers["bad"]["error"]["field"] == "horizon"
    # A clusterer: learn without ground truth is acknowledged, with one it is refused
    frames = [
        {"op": "learn", "rid": 1, "features": {"a": 1.0}},
        {"op": "learn", "rid": 2, "features": {"a": 1.0}, "ground_truth": 3},
    ]
    answers = {a["rid"]: a for a in talk(frames, token=token, model="groups")}
    assert answers[1]["seq"] == 1
    assert answers[2]["error"]["field"] == "ground_truth"


@pytest.mark.django_db(transaction=True)
def test_the_websocket_ranks_like_river_and_refuses_rank_where_it_does_not_apply(maintainer):
    from rest_framework.authtoken.models import Token

    from tests.api.test_infer_ws import talk

    token = Token.objects.get_or_create(user=maintainer)[0].key
    services.model_create(name="films", flavor="recommendation")
    promote("films", reco.Baseline(optimizer=optim.SGD(0.05)))
    services.model_create(name="sales", flavor="forecasting", options={"horizon": 2})
    promote("sales", snarimax())
    ratings = (("alien", 5.0), ("heat", 2.0), ("up", 4.0))
    # Given a recommender that learned three ratings over the WebSocket
    learns = [
        {"op": "learn", "rid": item, "features": {"user": "ann", "item": item}, "ground_truth": rating}
        for item, rating in ratings
    ]
    # When rank messages follow, one frame of its own and an array with a bad one
    frames = [
        learns,
        {"op": "rank", "rid": "r", "user": "bob", "items": ["heat", "up", "alien"]},
        [
            {"op": "rank", "rid": "ctx", "user": "ann", "items": ["up", "heat"], "context": {}},
            {"op": "rank", "rid": "x"},
        ],
    ]
    learned, ranked, mixed = talk(frames, token=token, model="films")
    # Then each answer is river's rank on the same learns, with the REST answer's shape and the rid
    reference = reco.Baseline(optimizer=optim.SGD(0.05))
    for item, rating in ratings:
        reference.learn_one("ann", item, rating)
    assert [a["seq"] for a in learned] == [1, 2, 3]
    assert ranked == {
        "rid": "r",
        "model": "films",
        "version": 1,
        "user": "bob",
        "items": reference.rank("bob", ["heat", "up", "alien"]),
        "state_seq": 3,
    }
    assert mixed[0]["items"] == reference.rank("ann", ["up", "heat"])
    assert mixed[1]["rid"] == "x" and mixed[1]["error"]["field"] == "user"
    # On a forecaster, rank answers wrong_flavor, and the connection keeps serving forecasts
    answers = talk(
        [{"op": "rank", "rid": 1, "user": "a", "items": ["b"]}, {"op": "predict", "rid": 2, "horizon": 2}],
        token=token,
        model="sales",
    )
    assert answers[0]["error"]["code"] == "wrong_flavor"
    assert len(answers[1]["prediction"]) == 2
