"""The backtest routes: start (202), list, read, cancel, and every error path with its message."""

import itertools

import dill
import pytest
from river import datasets, linear_model, preprocessing

import serving
from catalogue import services
from serving import backtests
from tests import factories

pytestmark = pytest.mark.django_db

TRUMP = list(itertools.islice(datasets.TrumpApproval(), 60))


@pytest.fixture
def live(db):
    """A regression model whose v1 served 60 learns, and a v2 that never served."""
    model = factories.MLModelFactory(name="live", flavor="regression")
    v1 = factories.ModelVersionFactory(
        model=model, artifact=dill.dumps(preprocessing.StandardScaler() | linear_model.LinearRegression())
    )
    factories.ModelVersionFactory(model=model)
    services.deployment_promote(version=v1)
    for x, y in TRUMP:
        serving.learn(model="live", features=x, ground_truth=y)
    return model


URL = "/api/v1/models/live/backtests/"


def test_a_post_answers_202_with_the_queued_backtest_and_its_url(maintainer_client, live):
    # When a maintainer starts a backtest of v2 over a range
    response = maintainer_client.post(URL, {"version": 2, "from_seq": 11, "to_seq": 50}, format="json")
    # Then it is accepted, queued, and its url reads it
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued"
    assert (body["model"], body["version"], body["from_seq"], body["to_seq"]) == ("live", 2, 11, 50)
    assert body["created_by"] == "maintainer"
    assert body["metrics"] is None and body["baseline"] is None
    assert response["Location"] == body["url"] == f"{URL}{body['id']}/"
    assert maintainer_client.get(body["url"]).json()["status"] == "queued"


def test_a_finished_backtest_reads_with_its_metrics_beside_the_baseline(maintainer_client, reader_client, live):
    # Given a backtest of the production version over the whole log, run to its end
    started = maintainer_client.post(URL, {"version": 1}, format="json").json()
    assert started["to_seq"] == 60
    backtests.run(started["id"])
    # When anyone logged in reads it
    body = reader_client.get(started["url"]).json()
    # Then it reports its progress and reproduces the live metrics, beside the same baseline
    live_metrics = reader_client.get("/api/v1/models/live/metrics").json()["metrics"]
    assert (body["status"], body["progress"], body["events_done"], body["events_total"]) == ("succeeded", 1.0, 60, 60)
    assert body["metrics"]["values"] == pytest.approx(live_metrics, rel=1e-9)
    assert body["baseline"]["values"] == pytest.approx(live_metrics, rel=1e-9)
    assert body["metrics"]["n_scored"] == 60 and body["metrics"]["n_learn_errors"] == 0
    assert body["started_at"] and body["finished_at"]


def test_the_list_is_newest_first(maintainer_client, live):
    first = maintainer_client.post(URL, {"version": 1}, format="json").json()
    second = maintainer_client.post(URL, {"version": 2, "to_seq": 5}, format="json").json()
    listed = maintainer_client.get(URL).json()
    assert [b["id"] for b in listed["results"]] == [second["id"], first["id"]]
    assert listed["count"] == 2


def test_a_queued_backtest_is_cancelled_at_once_and_a_second_cancel_conflicts(maintainer_client, live):
    started = maintainer_client.post(URL, {"version": 1}, format="json").json()
    cancelled = maintainer_client.post(f"{started['url']}cancel", format="json")
    assert cancelled.status_code == 200, cancelled.content
    assert cancelled.json()["status"] == "cancelled"
    again = maintainer_client.post(f"{started['url']}cancel", format="json")
    assert again.status_code == 409
    assert (
        again.json()["error"]["message"]
        == f"backtest {started['id']} has already cancelled: there is nothing to cancel"
    )


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"version": 7}, "version", "live has no version 7"),
        (
            {"version": 1, "from_seq": 30, "to_seq": 20},
            "from_seq",
            "from_seq (30) is after to_seq (20): the range is empty",
        ),
        ({"version": 1, "from_seq": -3}, "from_seq", "from_seq must be at least 1, not -3"),
        ({"version": 1, "to_seq": 61}, "to_seq", "to_seq (61) is past the end of live's learn log (#60)"),
        ({"version": "two"}, "version", "version: A valid integer is required."),
        ({}, "version", "version: This field is required."),
        (
            {"version": 1, "form_seq": 3},
            "form_seq",
            "form_seq: unknown field; this request accepts: version, from_seq, to_seq",
        ),
    ],
)
def test_bad_input_is_a_400_that_says_what_to_fix(maintainer_client, live, body, field, message):
    response = maintainer_client.post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["field"] == field
    assert response.json()["error"]["message"] == message


def test_a_body_that_is_not_an_object_is_a_400(maintainer_client, live):
    response = maintainer_client.post(URL, [1, 2], format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_an_empty_learn_log_is_a_409(maintainer_client):
    model = factories.MLModelFactory(name="quiet")
    factories.ModelVersionFactory(model=model)
    response = maintainer_client.post("/api/v1/models/quiet/backtests/", {"version": 1}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "empty_log"


def test_starting_or_cancelling_needs_the_change_permission(reader_client, maintainer_client, live):
    refused = reader_client.post(URL, {"version": 1}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "starting a backtest needs the catalogue.change_mlmodel permission"
    started = maintainer_client.post(URL, {"version": 1}, format="json").json()
    refused = reader_client.post(f"{started['url']}cancel", format="json")
    assert refused.status_code == 403
    assert "cancelling a backtest needs" in refused.json()["error"]["message"]


def test_anonymous_clients_get_401(anon_client, live):
    assert anon_client.get(URL).status_code == 401
    assert anon_client.post(URL, {"version": 1}, format="json").status_code == 401


def test_unknown_models_and_backtests_are_404(maintainer_client, live):
    assert maintainer_client.get("/api/v1/models/nope/backtests/").status_code == 404
    assert maintainer_client.post("/api/v1/models/nope/backtests/", {"version": 1}, format="json").status_code == 404
    missing = maintainer_client.get(f"{URL}999/")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "live has no backtest 999"
    # a backtest of another model is not found under this one
    other = factories.MLModelFactory(name="other")
    factories.ModelVersionFactory(model=other)
    started = maintainer_client.post(URL, {"version": 1}, format="json").json()
    assert maintainer_client.get(f"/api/v1/models/other/backtests/{started['id']}/").status_code == 404


def test_the_slashless_routes_redirect_keeping_the_method(maintainer_client, live):
    response = maintainer_client.post(URL.rstrip("/"), {"version": 1}, format="json")
    assert response.status_code == 308
    assert response["Location"] == URL


@pytest.mark.django_db(transaction=True)
def test_without_a_broker_the_post_returns_while_a_thread_runs_the_backtest(maintainer_client, live):
    # When a backtest is started through the API in the embedded default
    started = maintainer_client.post(URL, {"version": 1}, format="json")
    assert started.status_code == 202
    # Then a thread of this process runs it to the end, and the API reads the result
    backtests.wait(started.json()["id"], timeout=60)
    body = maintainer_client.get(started.json()["url"]).json()
    assert body["status"] == "succeeded", body["error"]
    live_metrics = maintainer_client.get("/api/v1/models/live/metrics").json()["metrics"]
    assert body["metrics"]["values"] == pytest.approx(live_metrics, rel=1e-9)


def test_a_backtest_whose_runner_stopped_reads_as_failed_and_a_stale_one_cancels_at_once(maintainer_client, live):
    from datetime import timedelta

    from django.utils import timezone

    from serving.models import Backtest

    # Given two backtests left running by a runner killed ten minutes ago (no heartbeat since)
    ids = [maintainer_client.post(URL, {"version": 1}, format="json").json()["id"] for _ in range(2)]
    beat = timezone.now() - timedelta(minutes=10)
    Backtest.objects.filter(pk__in=ids).update(
        status="running", started_at=beat, heartbeat_at=beat, events_done=7, events_total=60
    )
    # When one is cancelled, it is cancelled at once (there is no runner left to stop it)
    cancelled = maintainer_client.post(f"{URL}{ids[0]}/cancel", format="json")
    assert cancelled.status_code == 200, cancelled.content
    assert cancelled.json()["status"] == "cancelled"
    # And the other reads as failed, saying where its runner stopped and what to do
    body = maintainer_client.get(f"{URL}{ids[1]}/").json()
    assert body["status"] == "failed"
    assert body["error"] == "its runner stopped (process restarted?) at event 7 of 60; start it again"
    assert body["heartbeat_at"] is not None
