"""rhythmic_client with the forecasting and recommendation flavors against a real server process: forecasts with
a horizon and rankings, over HTTP and one WebSocket, equal river's models fed the same learns."""

import dill
import pytest
import rhythmic_client as rc
from river import optim, reco, time_series

from tests.serving.flavor_helpers import airline

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def snarimax():
    return time_series.SNARIMAX(p=2, d=1, q=1)


def baseline():
    return reco.Baseline(optimizer=optim.SGD(0.05))


def live(client, name: str, flavor: str, obj, **fields) -> str:
    client.create_model(name, flavor, **fields)
    client.promote(name, client.upload(name, dill.dumps(obj), format="dill")["number"])
    return name


def test_a_forecaster_forecasts_a_horizon_over_http_and_a_stream_as_river(client):
    # Given a forecaster with metrics horizon 3 that learned 30 values of the series through the client
    sales = live(client, "sales", "forecasting", snarimax(), options={"horizon": 3})
    stream = airline(30)
    reference = snarimax()
    for x, y in stream:
        client.learn(sales, y, features=x)
        reference.learn_one(y=y, x=x)
    xs = [{"month": 7}, {"month": 8}]
    # When it forecasts 2 steps over HTTP and over one WebSocket, with and without exogenous features
    over_http = client.predict(sales, xs, horizon=2)
    with client.stream(sales) as session:
        streamed = session.predict(horizon=2)
        with pytest.raises(rc.InvalidInput):
            session.predict(horizon=0)
    # Then both are river's forecasts
    assert over_http["prediction"] == reference.forecast(2, xs=xs)
    assert streamed["prediction"] == reference.forecast(2, xs=None)
    assert client.model(sales)["options"] == {"horizon": 3}


def test_a_recommender_ranks_over_http_and_a_stream_as_river(client):
    # Given a recommender that learned ratings through one WebSocket
    films = live(client, "films", "recommendation", baseline())
    reference = baseline()
    ratings = [("ann", "alien", 5.0), ("ann", "heat", 2.0), ("bob", "up", 4.0), ("bob", "heat", 1.0)]
    with client.stream(films) as session:
        for user, item, rating in ratings:
            session.learn(rating, features={"user": user, "item": item})
            reference.learn_one(user, item, rating)
        streamed = session.rank("ann", ["heat", "up", "alien"])
        # An error raises and the session goes on
        with pytest.raises(rc.InvalidInput):
            session.rank("ann", [])
        assert session.rank("bob", ["alien"])["items"] == ["alien"]
    # Then the rankings over the stream and over HTTP are river's
    assert streamed["items"] == reference.rank("ann", ["heat", "up", "alien"])
    assert client.rank(films, "bob", ["heat", "up", "alien"])["items"] == reference.rank("bob", ["heat", "up", "alien"])
    # And rank on another flavor raises the server's refusal
    live(client, "sales", "forecasting", snarimax())
    with pytest.raises(rc.InvalidInput, match="rank needs a recommendation model"):
        client.rank("sales", "ann", ["up"])
