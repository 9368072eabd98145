"""The pipeline page's Score form: the production stages predict through serving.pipelines, the page shows the
answer and each stage's output; bad features and refusals are shown on the form; it needs the inference
permission."""

import json

import dill
import pytest
from django.urls import reverse
from django.utils.html import escape
from river import anomaly, linear_model, preprocessing

from catalogue import pipelines, services
from serving.models import PendingPrediction
from tests import factories

pytestmark = pytest.mark.django_db

URL = reverse("dashboard:pipeline-score", args=["fraud"])
FEATURES = {"amount": 0.3, "hour": 0.8}


def scorer():
    return preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(seed=42)


def classifier():
    return preprocessing.StandardScaler() | linear_model.LogisticRegression()


def live(name: str, flavor: str, obj) -> None:
    model = factories.MLModelFactory(name=name, flavor=flavor)
    services.deployment_promote(version=factories.ModelVersionFactory(model=model, artifact=dill.dumps(obj)))


@pytest.fixture
def fraud():
    live("scorer", "anomaly", scorer())
    live("clf", "binary", classifier())
    return pipelines.pipeline_create(name="fraud", stages=[{"model": "scorer", "as": "score"}, {"model": "clf"}])


def test_the_page_has_the_score_form_for_who_may_infer(fraud, maintainer_web, reader_web):
    assert 'action="/pipelines/fraud/score/#score"' in maintainer_web.get("/pipelines/fraud/").content.decode()
    page = reader_web.get("/pipelines/fraud/").content.decode()
    assert "Scoring needs the catalogue.infer_mlmodel permission." in page
    assert "/pipelines/fraud/score/" not in page


def test_scoring_shows_the_answer_and_each_stage_s_output_as_the_in_process_chain(fraud, maintainer_web):
    # When the features are scored with an id
    response = maintainer_web.post(URL, {"features": json.dumps(FEATURES), "id": "tx-1"})
    # Then the page shows the in-process chain's answer, and each stage's
    assert response.status_code == 200
    score = scorer().score_one(FEATURES)
    expected = classifier().predict_proba_one({**FEATURES, "score": score})
    page = response.content.decode()
    shown = escape(json.dumps({str(k): v for k, v in expected.items()}))
    assert f"v1 answers <code data-score-prediction>{shown}</code> for id <code>tx-1</code>" in page
    assert 'data-score-stage="scorer"' in page and 'data-score-stage="clf"' in page
    # And each stage keeps its pending prediction for a later learn by that id
    assert PendingPrediction.objects.count() == 2


@pytest.mark.parametrize(
    ("features", "message"),
    [
        ("{not json", "this is not valid JSON"),
        ("[1, 2]", "give a JSON object of features"),
        ('{"score": 1}', "features.score is the name of stage scorer&#x27;s output; rename the feature"),
    ],
)
def test_bad_features_are_shown_on_the_form(fraud, maintainer_web, features, message):
    response = maintainer_web.post(URL, {"features": features})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not PendingPrediction.objects.exists()


def test_a_stage_without_production_is_shown_on_the_form(fraud, maintainer_web):
    from catalogue.models import MLModel

    MLModel.objects.filter(name="clf").update(production_version=None)
    response = maintainer_web.post(URL, {"features": json.dumps(FEATURES)})
    assert response.status_code == 409
    assert "stage clf of fraud has no production version" in response.content.decode()


def test_scoring_needs_the_inference_permission(fraud, reader_web):
    response = reader_web.post(URL, {"features": json.dumps(FEATURES)})
    assert response.status_code == 403
    assert "catalogue.infer_mlmodel" in response.content.decode()


def test_scoring_an_unknown_pipeline_is_a_404_page(maintainer_web):
    response = maintainer_web.post(reverse("dashboard:pipeline-score", args=["ghost"]), {"features": "{}"})
    assert response.status_code == 404


def test_scoring_is_a_post(fraud, maintainer_web):
    assert maintainer_web.get(URL).status_code == 405
