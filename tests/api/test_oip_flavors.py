"""The Open Inference Protocol on the other flavors: clusters, ratings and anomaly scores learned and inferred
through /v2 equal the same river models fed the same rows in process."""

import dill
import pytest
from river import anomaly, cluster, optim, preprocessing, reco

from catalogue import services
from tests import factories

pytestmark = pytest.mark.django_db


def deploy(name: str, flavor: str, obj) -> None:
    model = factories.MLModelFactory(name=name, flavor=flavor)
    services.deployment_promote(version=factories.ModelVersionFactory(model=model, artifact=dill.dumps(obj)))


def tensor(name: str, datatype: str, values: list) -> dict:
    return {"name": name, "datatype": datatype, "shape": [len(values)], "data": values}


def post(client, route: str, inputs: list, **body) -> dict:
    answer = client.post(route, {"inputs": inputs, **body}, format="json")
    assert answer.status_code == 200, answer.json()
    return answer.json()


def prediction(body: dict) -> dict:
    return next(o for o in body["outputs"] if o["name"] == "prediction")


def test_a_clusterer_learns_feature_tensors_and_infers_each_rows_cluster(maintainer_client):
    deploy("groups", "clustering", cluster.KMeans(n_clusters=2, seed=1))
    reference = cluster.KMeans(n_clusters=2, seed=1)
    learned = [0.0, 10.0, 0.5, 9.0, 0.2, 9.7]
    post(maintainer_client, "/v2/models/groups/learn", [tensor("a", "FP64", learned)])
    for a in learned:
        reference.learn_one({"a": a})
    asked = [9.5, 0.1, 5.2]
    answer = prediction(post(maintainer_client, "/v2/models/groups/infer", [tensor("a", "FP64", asked)]))
    assert answer["datatype"] == "INT64"
    assert answer["data"] == [reference.predict_one({"a": a}) for a in asked]


def test_a_recommender_infers_ratings_of_user_and_item_tensors(maintainer_client):
    deploy("films", "recommendation", reco.Baseline(optimizer=optim.SGD(0.05)))
    reference = reco.Baseline(optimizer=optim.SGD(0.05))
    users, items, ratings = ["ann", "ann", "bob"], ["alien", "heat", "alien"], [5.0, 2.0, 4.0]
    inputs = [tensor("user", "BYTES", users), tensor("item", "BYTES", items), tensor("ground_truth", "FP64", ratings)]
    post(maintainer_client, "/v2/models/films/learn", inputs)
    for user, item, rating in zip(users, items, ratings, strict=True):
        reference.learn_one(user, item, rating)
    asked = [("bob", "heat"), ("ann", "alien")]
    body = post(
        maintainer_client,
        "/v2/models/films/infer",
        [tensor("user", "BYTES", [u for u, _ in asked]), tensor("item", "BYTES", [i for _, i in asked])],
    )
    assert prediction(body)["datatype"] == "FP64"
    assert prediction(body)["data"] == pytest.approx([reference.predict_one(u, i) for u, i in asked], abs=1e-9)


def test_a_recommender_row_without_an_item_is_refused_by_row(maintainer_client):
    deploy("films", "recommendation", reco.Baseline(optimizer=optim.SGD(0.05)))
    answer = maintainer_client.post(
        "/v2/models/films/infer", {"inputs": [tensor("user", "BYTES", ["ann"])]}, format="json"
    )
    assert answer.status_code == 400
    assert answer.json()["error"].startswith('row 0 (features.item): a recommendation model\'s features need "item"')


def test_an_anomaly_scorer_learns_by_request_id_without_ground_truth_and_scores_like_river(maintainer_client):
    def scorer():
        return preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(seed=42)

    deploy("fraud", "anomaly", scorer())
    reference = scorer()
    amounts = [0.1, 0.2, 0.15, 0.9, 0.12]
    # Rows inferred with an id learn later by that id with a BOOL ground truth (folded into ROCAUC)
    first = post(maintainer_client, "/v2/models/fraud/infer", [tensor("amount", "FP64", amounts)], id="t1")
    assert prediction(first)["data"] == [reference.score_one({"amount": a}) for a in amounts]
    truths = [False, False, False, True, False]
    post(maintainer_client, "/v2/models/fraud/learn", [tensor("ground_truth", "BOOL", truths)], id="t1")
    for a in amounts:
        reference.learn_one({"amount": a})
    later = post(maintainer_client, "/v2/models/fraud/infer", [tensor("amount", "FP64", [0.11, 0.95])])
    assert prediction(later)["data"] == pytest.approx(
        [reference.score_one({"amount": a}) for a in (0.11, 0.95)], abs=1e-9
    )
