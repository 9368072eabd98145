"""The forecasting flavor: forecasts and per-step metrics exactly as river's, through restarts and replicas."""

import copy

import pytest
from river import evaluate, linear_model, metrics, optim, preprocessing, time_series

import serving
from catalogue import services
from catalogue.errors import InvalidInput, NotFound
from serving.process import ServingProcess, acting_as, current
from tests.serving.flavor_helpers import airline, live_model

pytestmark = pytest.mark.django_db


def holt_winters():
    return time_series.HoltWinters(alpha=0.3, beta=0.1, gamma=0.6, seasonality=12, multiplicative=True)


def snarimax():
    """With an exogenous feature (the month), as river's SNARIMAX example."""
    return time_series.SNARIMAX(
        p=12,
        d=1,
        q=12,
        m=12,
        sd=1,
        regressor=preprocessing.StandardScaler()
        | linear_model.LinearRegression(intercept_init=110, optimizer=optim.SGD(0.01), intercept_lr=0.3),
    )


def learn_all(stream, model="live"):
    for x, y in stream:
        serving.learn(model=model, ground_truth=y, features=x)


def evaluated(factory, stream, metric, horizon):
    return evaluate.evaluate(stream, factory(), metric, horizon=horizon).get()


@pytest.mark.parametrize("factory", [holt_winters, snarimax])
def test_a_forecast_equals_the_river_model_fed_the_same_learns(factory):
    # Given a forecaster in production that learned 100 months
    live_model(factory(), flavor="forecasting")
    stream = airline(100)
    learn_all(stream)
    reference = factory()
    for x, y in stream:
        reference.learn_one(y=y, x=x)
    # When it forecasts 6 months with their exogenous features
    xs = [{"month": m} for m in range(5, 11)]
    result = serving.predict(model="live", horizon=6, features=xs)
    # Then it answers what river's model answers
    assert result.prediction == reference.forecast(6, xs=xs)
    assert len(result.prediction) == 6


def test_a_forecast_without_features_takes_none():
    live_model(holt_winters(), flavor="forecasting")
    learn_all(airline(30))
    reference = holt_winters()
    for x, y in airline(30):
        reference.learn_one(y=y, x=x)
    assert serving.predict(model="live", features=None, horizon=3).prediction == reference.forecast(3)


# HoltWinters forecasts once it saw a season (12 values): river's evaluate needs a horizon of 12 at least for it.
@pytest.mark.parametrize("factory, horizon", [(holt_winters, 12), (holt_winters, 15), (snarimax, 1), (snarimax, 4)])
def test_the_per_step_metrics_equal_river_evaluate(factory, horizon):
    # Given a forecaster with a metrics horizon, fed the airline series
    live_model(factory(), flavor="forecasting", options={"horizon": horizon})
    stream = airline()
    learn_all(stream)
    # Then its metrics are river.evaluate.evaluate's, step by step
    served = serving.metrics(model="live")["metrics"]
    assert served["MAE"] == pytest.approx(evaluated(factory, stream, metrics.MAE(), horizon), rel=1e-9, abs=1e-9)
    assert served["RMSE"] == pytest.approx(evaluated(factory, stream, metrics.RMSE(), horizon), rel=1e-9, abs=1e-9)
    assert len(served["MAE"]) == horizon


def test_the_metrics_horizon_defaults_to_12_and_is_kept_with_the_model():
    model, _ = live_model(holt_winters(), flavor="forecasting")
    assert model.options == {"horizon": 12}
    stream = airline()
    learn_all(stream)
    served = serving.metrics(model="live")["metrics"]["MAE"]
    assert served == pytest.approx(evaluated(holt_winters, stream, metrics.MAE(), 12), rel=1e-9)
    assert len(served) == 12


def test_the_metrics_are_empty_lists_until_a_forecast_is_scored():
    live_model(snarimax(), flavor="forecasting", options={"horizon": 3})
    learn_all(airline(6))  # evaluate scores its first forecast at the 2H+1-th value
    assert serving.metrics(model="live")["metrics"] == {"MAE": [], "RMSE": []}
    learn_all(airline(7)[6:])
    assert len(serving.metrics(model="live")["metrics"]["MAE"]) == 3


def test_learn_answers_the_one_step_forecast_made_before_learning():
    live_model(holt_winters(), flavor="forecasting")
    stream = airline(20)
    learn_all(stream[:19])
    reference = holt_winters()
    for x, y in stream[:19]:
        reference.learn_one(y=y, x=x)
    learned = serving.learn(model="live", ground_truth=stream[19][1], features=stream[19][0])
    assert learned.prediction == reference.forecast(1, xs=[stream[19][0]])[0]


def test_learn_before_the_model_can_forecast_still_learns():
    # HoltWinters cannot forecast before its first season: the learn is kept with no prediction
    live_model(holt_winters(), flavor="forecasting")
    learned = serving.learn(model="live", ground_truth=112.0)
    assert (learned.seq, learned.prediction) == (1, None)


@pytest.mark.parametrize("every", [10_000, 10])
def test_a_restarted_process_replays_the_log_to_the_same_forecasts_and_metrics(settings, every):
    # Given learns acknowledged (with checkpoints every 10 learns, or none)
    settings.RHYTHMIC_CHECKPOINT_EVERY = every
    live_model(snarimax(), flavor="forecasting", options={"horizon": 3})
    stream = airline(90)
    learn_all(stream)
    xs = [{"month": 7}, {"month": 8}, {"month": 9}]
    before = (serving.predict(model="live", horizon=3, features=xs).prediction, serving.metrics(model="live"))
    # When the process restarts
    current().forget()
    # Then it forecasts and scores exactly as before, and as river's evaluate on the stream
    after = (serving.predict(model="live", horizon=3, features=xs).prediction, serving.metrics(model="live"))
    assert after == before
    assert after[1]["metrics"]["MAE"] == pytest.approx(evaluated(snarimax, stream, metrics.MAE(), 3), rel=1e-9)


def test_two_processes_learning_in_turn_agree_with_one_model():
    live_model(holt_winters(), flavor="forecasting", options={"horizon": 12})
    processes = [ServingProcess(), ServingProcess()]
    stream = airline(60)
    for i, (x, y) in enumerate(stream):
        with acting_as(processes[i % 2]):
            serving.learn(model="live", ground_truth=y, features=x)
    answers = []
    for process in processes:
        with acting_as(process):
            answers.append((serving.predict(model="live", horizon=2).prediction, serving.metrics(model="live")))
    assert answers[0] == answers[1]
    assert answers[0][1]["metrics"]["MAE"] == pytest.approx(evaluated(holt_winters, stream, metrics.MAE(), 12))


def test_a_backtest_scores_the_horizon_metrics_as_the_live_version():
    from serving import backtests

    model, version = live_model(snarimax(), flavor="forecasting", options={"horizon": 2})
    learn_all(airline(40))
    backtest = backtests.backtest_start(model=model, version=version.number)
    assert backtests.run(backtest.pk) == "succeeded"  # here: the test's transaction is never committed
    backtest.refresh_from_db()
    assert backtest.metrics["values"] == serving.metrics(model="live")["metrics"]


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("horizon", [None, 0, -1, 1001, 2.0, "3", True, [3]])
def test_a_bad_horizon_is_refused(horizon):
    live_model(holt_winters(), flavor="forecasting")
    with pytest.raises(InvalidInput) as caught:
        serving.predict(model="live", horizon=horizon, features=None)
    assert caught.value.field == "horizon"


@pytest.mark.parametrize(
    "features, message",
    [
        ([{"month": 1}], "needs 3 objects"),
        ([{"month": 1}] * 4, "needs 3 objects"),
        ({"month": 1}, "list of JSON objects"),
        ([1, 2, 3], "list of JSON objects"),
        ([{"month": float("inf")}] * 3, "finite"),
    ],
)
def test_features_that_do_not_fit_the_horizon_are_refused(features, message):
    live_model(holt_winters(), flavor="forecasting")
    with pytest.raises(InvalidInput, match=message) as caught:
        serving.predict(model="live", horizon=3, features=features)
    assert caught.value.field.startswith("features")


def test_a_forecast_takes_no_id_and_a_learn_no_id():
    live_model(holt_winters(), flavor="forecasting")
    with pytest.raises(InvalidInput, match="takes no id"):
        serving.predict(model="live", horizon=1, id=7)
    with pytest.raises(InvalidInput, match="not by the id"):
        serving.learn(model="live", ground_truth=1.0, id=7)


@pytest.mark.parametrize("ground_truth", [None, "112", True, [1.0]])
def test_a_learn_needs_a_number(ground_truth):
    live_model(holt_winters(), flavor="forecasting")
    with pytest.raises(InvalidInput) as caught:
        serving.learn(model="live", ground_truth=ground_truth)
    assert caught.value.field == "ground_truth"


def test_a_horizon_on_another_flavor_is_refused():
    live_model(preprocessing.StandardScaler() | linear_model.LinearRegression(), flavor="regression")
    with pytest.raises(InvalidInput, match="horizon is for forecasting models"):
        serving.predict(model="live", features={"x": 1.0}, horizon=3)


def test_a_forecast_of_a_model_that_cannot_forecast_yet_is_a_clear_refusal():
    live_model(holt_winters(), flavor="forecasting")
    with pytest.raises(InvalidInput, match="could not forecast"):
        serving.predict(model="live", horizon=2)


def test_a_forecast_on_an_unknown_model_is_not_found():
    with pytest.raises(NotFound):
        serving.predict(model="ghost", horizon=2, features=None)


@pytest.mark.parametrize(
    "flavor, options, message",
    [
        ("forecasting", {"horizon": 0}, "options.horizon must be a whole number"),
        ("forecasting", {"horizon": "12"}, "options.horizon must be a whole number"),
        ("forecasting", {"window": 3}, "no option 'window'"),
        ("forecasting", [12], "must be a JSON object"),
        ("regression", {"horizon": 12}, "takes none"),
    ],
)
def test_bad_options_at_creation_are_refused(flavor, options, message):
    with pytest.raises(InvalidInput, match=message) as caught:
        services.model_create(name="bad", flavor=flavor, options=options)
    assert caught.value.field == "options"


def test_the_lagged_copy_never_touches_the_served_model():
    # The metrics' forecaster is a copy: the artifact's object the replica serves is not shared with it
    obj = snarimax()
    live_model(copy.deepcopy(obj), flavor="forecasting", options={"horizon": 2})
    learn_all(airline(30))
    entry = current().replicas.entry("live")
    replica = entry.production()
    assert replica.metrics.lagged is not replica.servable.obj
    assert replica.metrics.n_seen == 30
