"""A Handoff between predict_many and the learn_many right after it: the same answers and state as the two calls
one after the other, without the pending rows going to the database and back."""

import itertools
import json
from datetime import timedelta

import dill
import pytest
from django.utils import timezone
from river import datasets, linear_model, preprocessing

import serving
from catalogue import services
from catalogue.errors import InvalidInput
from catalogue.models import MLModel
from serving import log
from serving.models import LearnEvent, PendingPrediction, ShadowPrediction
from tests import factories

pytestmark = pytest.mark.django_db

STREAM = list(itertools.islice(datasets.TrumpApproval(), 60))


def live_model(name: str, *, challenger: bool = False) -> MLModel:
    model = factories.MLModelFactory(name=name)
    version = factories.ModelVersionFactory(
        model=model, artifact=dill.dumps(preprocessing.StandardScaler() | linear_model.LinearRegression())
    )
    services.deployment_promote(version=version)
    if challenger:
        other = factories.ModelVersionFactory(
            model=model, artifact=dill.dumps(preprocessing.MaxAbsScaler() | linear_model.LinearRegression())
        )
        services.challenger_add(version=other)
    return model


def feed(name: str, *, handoff: bool, chunk: int = 20) -> list[dict]:
    """The stream as a socket sends it: ``chunk`` predicts with ids, then their learns; every answer."""
    answers = []
    for start in range(0, len(STREAM), chunk):
        part = list(enumerate(STREAM[start : start + chunk], start))
        given = serving.Handoff() if handoff else None
        answers += serving.predict_many(
            model=name, items=[{"id": i, "features": x} for i, (x, _) in part], handoff=given
        )
        answers += serving.learn_many(
            model=name, items=[{"id": i, "ground_truth": y} for i, (_, y) in part], handoff=given
        )
    return answers


def without_model(answers: list[dict]) -> list[dict]:
    return [{key: value for key, value in answer.items() if key != "model"} for answer in answers]


def logged(name: str) -> list[tuple]:
    return list(
        LearnEvent.objects.filter(model__name=name)
        .order_by("seq")
        .values_list("seq", "version__number", "key", "features", "ground_truth", "prediction")
    )


@pytest.mark.parametrize("challenger", [False, True], ids=["production alone", "with a challenger"])
def test_handing_over_answers_logs_and_scores_as_the_two_calls_one_after_the_other(challenger):
    # Given two identical models
    live_model("handed", challenger=challenger)
    live_model("stored", challenger=challenger)

    # When one is fed with a handoff between its predicts and learns, the other without
    handed = feed("handed", handoff=True)
    stored = feed("stored", handoff=False)

    # Then the answers, the learn log and the metrics of every version are the same, and nothing is left pending
    assert without_model(handed) == without_model(stored)
    assert logged("handed") == logged("stored")
    for number in [1, 2] if challenger else [1]:
        handed_metrics = serving.metrics(model="handed", version=number)
        stored_metrics = serving.metrics(model="stored", version=number)
        assert {**handed_metrics, "model": ""} == {**stored_metrics, "model": ""}
    assert not PendingPrediction.objects.exists()
    if challenger:
        assert ShadowPrediction.objects.filter(model__name="handed").count() == len(STREAM)


def test_predictions_the_learn_does_not_consume_are_stored_for_a_later_learn():
    # Given predicts of ids 0-3 handed to a learn of ids 0 and 1 (and of id 2 with a ground truth it refuses)
    live_model("live")
    handoff = serving.Handoff()
    serving.predict_many(
        model="live", items=[{"id": i, "features": x} for i, (x, _) in enumerate(STREAM[:4])], handoff=handoff
    )
    answers = serving.learn_many(
        model="live",
        items=[{"id": 0, "ground_truth": 1.0}, {"id": 1, "ground_truth": 2.0}, {"id": 2, "ground_truth": "many"}],
        handoff=handoff,
    )

    # Then the refused item says why, and ids 2 and 3 wait in the database for their learn
    assert [answer.get("seq") for answer in answers[:2]] == [1, 2]
    assert answers[2]["error"]["field"] == "ground_truth"
    assert sorted(PendingPrediction.objects.values_list("key", flat=True)) == ["2", "3"]
    assert serving.learn(model="live", id=3, ground_truth=3.0).seq == 3


def test_an_older_pending_prediction_of_a_handed_over_id_cannot_be_learned_again():
    # Given a prediction with id 7 stored long ago, then a new one handed over to its learn
    live_model("live")
    serving.predict(model="live", features=STREAM[0][0], id=7)
    handoff = serving.Handoff()
    serving.predict_many(model="live", items=[{"id": 7, "features": STREAM[1][0]}], handoff=handoff)
    serving.learn_many(model="live", items=[{"id": 7, "ground_truth": 1.0}], handoff=handoff)

    # When id 7 is learned again
    again = serving.learn_many(model="live", items=[{"id": 7, "ground_truth": 1.0}])

    # Then it was consumed, as it is when the new prediction replaces the old row
    assert again[0]["error"]["code"] == "conflict"
    assert not PendingPrediction.objects.exists()
    assert LearnEvent.objects.get().features == STREAM[1][0]


def test_a_handed_over_prediction_older_than_the_ttl_expires_as_a_stored_one_would(settings):
    # Given a handoff holding a prediction made longer ago than RHYTHMIC_PENDING_TTL
    model = live_model("live")
    handoff = serving.Handoff()
    serving.predict_many(model="live", items=[{"id": 1, "features": STREAM[0][0]}], handoff=handoff)
    handoff.created_at -= timedelta(seconds=settings.RHYTHMIC_PENDING_TTL + 1)

    # When its learn comes
    answers = serving.learn_many(model="live", items=[{"id": 1, "ground_truth": 1.0}], handoff=handoff)

    # Then it is not found and counted as expired
    assert answers[0]["error"]["code"] == "not_found"
    model.refresh_from_db()
    assert model.pending_expired == 1
    assert not PendingPrediction.objects.exists()


def test_a_learn_that_fails_as_a_whole_stores_what_was_handed_over():
    # Given predictions handed to a learn_many that is refused as a whole (not a list)
    live_model("live")
    handoff = serving.Handoff()
    serving.predict_many(model="live", items=[{"id": 1, "features": STREAM[0][0]}], handoff=handoff)

    with pytest.raises(InvalidInput):
        serving.learn_many(model="live", items="nope", handoff=handoff)

    # Then the prediction waits in the database, as it would have without the handoff
    assert list(PendingPrediction.objects.values_list("key", flat=True)) == ["1"]


@pytest.mark.parametrize(
    ("features", "decoded"),
    [
        ({"x": 1.5, "n": 2, "city": "Paris", "flag": True, "none": None}, None),
        ({"xs": (1.0, 2.0)}, {"xs": [1.0, 2.0]}),
        ({1: 2.0}, {"1": 2.0}),
        ({"nested": {"a": 1}}, {"nested": {"a": 1}}),
    ],
    ids=["flat scalars", "a tuple", "an int key", "nested"],
)
def test_a_handed_over_row_reads_back_as_its_stored_json_would(features, decoded):
    # Given a pending row handed over in memory
    model = live_model("live")
    row = ("1", model.production_version_id, features, {"value": 0.5}, None)

    # When the learn takes it
    taken = log.pending_held(model_id=model.pk, rows=[row], created_at=timezone.now())["1"]

    # Then its features are what the database's text would decode to (the very dict when that is the same)
    assert taken.features == json.loads(taken.features_json)
    assert [type(v) for v in taken.features.values()] == [type(v) for v in json.loads(taken.features_json).values()]
    assert taken.features is features if decoded is None else taken.features == decoded
    assert taken.prediction == {"value": 0.5}
