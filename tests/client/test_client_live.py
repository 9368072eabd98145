"""rhythmic_client against a real server process (Postgres: the server shares the test database)."""

import itertools

import dill
import pytest
import rhythmic_client as rc
from rest_framework.authtoken.models import Token
from rhythmic_client import Client
from river import datasets, linear_model, preprocessing

from tests import factories

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def regressor(l2: float = 0.0):
    return preprocessing.StandardScaler() | linear_model.LinearRegression(l2=l2)


@pytest.fixture
def live(client):
    """A model whose v1 is in production, made through the client."""
    client.create_model("taxi", "regression")
    version = client.upload("taxi", dill.dumps(regressor()), format="dill", message="first")
    client.promote("taxi", version["number"])
    return "taxi"


def test_upload_promote_predict_learn_and_read_metrics(client, live):
    # When a client predicts with an id, then learns it
    predicted = client.predict(live, {"km": 3.0}, id=7)
    learned = client.learn(live, 12.5, id=7)
    # Then the server answers with the production version and counts the learn
    assert (predicted["version"], predicted["prediction"]) == (1, 0.0)
    assert learned["seq"] == 1
    assert client.metrics(live)["n_learned"] == 1


def test_an_upload_from_a_path_records_its_message(client, live, tmp_path):
    path = tmp_path / "model.dill"
    path.write_bytes(dill.dumps(regressor(l2=0.1)))
    version = client.upload(live, path, format="dill", message="with l2")
    assert (version["number"], version["message"]) == (2, "with l2")


def test_rollback_returns_to_the_previous_version(client, live):
    second = client.upload(live, dill.dumps(regressor(l2=0.5)), format="dill")
    client.promote(live, second["number"])
    deployment = client.rollback(live)
    assert client.predict(live, {"km": 1.0})["version"] == 1
    assert deployment["action"] == "rollback"


def test_models_lists_every_model(client, live):
    client.create_model("other", "binary")
    assert sorted(m["name"] for m in client.models()) == ["other", "taxi"]


def test_batches_answer_one_result_per_item(client, live):
    predicted = client.predict_many(live, [{"features": {"km": 1.0}, "id": "a"}, {"features": "bad"}])
    learned = client.learn_many(live, [{"id": "a", "ground_truth": 2.0}])
    assert predicted[0]["prediction"] == 0.0
    assert predicted[1]["error"]["field"] == "features"
    assert learned[0]["seq"] == 1


def test_an_unknown_model_raises_not_found(client):
    with pytest.raises(rc.NotFound, match="no model named 'nope'"):
        client.predict("nope", {"km": 1.0})


def test_bad_features_raise_invalid_input_naming_the_field(client, live):
    with pytest.raises(rc.InvalidInput) as raised:
        client.predict(live, "not an object")
    assert raised.value.field == "features"


def test_learning_an_id_twice_raises_conflict(client, live):
    client.predict(live, {"km": 1.0}, id="once")
    client.learn(live, 1.0, id="once")
    with pytest.raises(rc.Conflict, match="already learned"):
        client.learn(live, 1.0, id="once")


def test_promoting_a_version_already_in_production_raises_conflict(client, live):
    with pytest.raises(rc.Conflict, match="already in production"):
        client.promote(live, 1)


def test_a_wrong_token_raises_unauthorized(server, live):
    with pytest.raises(rc.Unauthorized), Client(server.url, "wrong") as stranger:
        stranger.models()


def test_a_user_without_the_permission_raises_permission_denied(server, live):
    reader = factories.UserFactory(username="viewer")
    with pytest.raises(rc.PermissionDenied), Client(server.url, Token.objects.create(user=reader).key) as viewer:
        viewer.predict(live, {"km": 1.0})


def test_a_stream_predicts_and_learns_like_the_model_in_process(client, live):
    # Given the same stream fed to an in-process model
    reference = regressor()
    stream = list(itertools.islice(datasets.TrumpApproval(), 40))
    # When it goes through one streaming session, one message at a time
    with client.stream(live) as session:
        for i, (x, y) in enumerate(stream):
            # Then every prediction is the in-process model's
            assert session.predict(x, id=i)["prediction"] == reference.predict_one(x)
            session.learn(y, id=i)
            reference.learn_one(x, y)
    assert client.metrics(live)["n_learned"] == 40


def test_send_many_answers_every_message_in_order(client, live):
    messages = [{"op": "predict", "features": {"km": float(i)}, "id": i} for i in range(300)]
    messages += [{"op": "learn", "id": i, "ground_truth": 1.0} for i in range(300)]
    with client.stream(live, batch=64, window=4) as session:
        answers = session.send_many(messages)
    assert [a["rid"] for a in answers] == list(range(600))
    assert [a["seq"] for a in answers[300:]] == list(range(1, 301))


def test_a_streamed_error_raises_its_type_and_the_session_goes_on(client, live):
    with client.stream(live) as session:
        with pytest.raises(rc.NotFound):
            session.learn(1.0, id="never predicted")
        assert session.predict({"km": 1.0})["prediction"] == 0.0


def test_a_stream_with_a_wrong_token_raises_unauthorized(server, live):
    with pytest.raises(rc.Unauthorized), Client(server.url, "wrong").stream(live) as session:
        session.predict({"km": 1.0})
