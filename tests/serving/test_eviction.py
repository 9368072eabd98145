"""Replicas of idle models evicted under RHYTHMIC_MAX_LOADED_MODELS and RHYTHMIC_MAX_LOADED_MB, and reloaded
(checkpoint + tail) exactly."""

import contextlib
import itertools
import logging
import threading

import dill
import pytest
from pympler import asizeof
from river import datasets, linear_model, metrics, preprocessing

import serving
from catalogue import services
from serving.models import Checkpoint
from serving.process import ServingProcess, acting_as, current
from tests import factories

pytestmark = pytest.mark.django_db


def regressor():
    return preprocessing.StandardScaler() | linear_model.LinearRegression()


def live_model(name, obj=None):
    model = factories.MLModelFactory(name=name, flavor="regression")
    version = factories.ModelVersionFactory(model=model, artifact=dill.dumps(obj or regressor()))
    services.deployment_promote(version=version)
    return model


def examples(n, start=0):
    return list(itertools.islice(datasets.TrumpApproval(), start, start + n))


@contextlib.contextmanager
def held(entry):
    """Another thread holds ``entry``'s lock (a call in progress) until the block ends."""
    holding, release = threading.Event(), threading.Event()

    def hold():
        with entry.lock:
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    assert holding.wait(10)
    try:
        yield
    finally:
        release.set()
        thread.join(10)


def loaded():
    """Names of the models this process holds (read without their locks: a test holds one)."""
    return set(current().replicas.loaded())


def test_loading_a_model_past_the_budget_evicts_the_least_recently_used(settings):
    # Given a budget of two models and three live ones, "a" used least recently
    settings.RHYTHMIC_MAX_LOADED_MODELS = 2
    for name in "abc":
        live_model(name)
    serving.predict(model="a", features={"x": 1.0})
    serving.predict(model="b", features={"x": 1.0})
    serving.predict(model="a", features={"x": 1.0})  # now "b" is the least recently used
    # When a third model is loaded
    serving.predict(model="c", features={"x": 1.0})
    # Then "b" was evicted, the others stay
    assert loaded() == {"a", "c"}
    assert current().replicas.evictions == 1


def test_without_a_budget_nothing_is_evicted(settings):
    settings.RHYTHMIC_MAX_LOADED_MODELS = 0
    for name in "abcd":
        live_model(name)
        serving.predict(model=name, features={"x": 1.0})
    assert loaded() == set("abcd")
    assert current().replicas.evictions == 0


@pytest.mark.parametrize("checkpoint_every", [1000, 7])
def test_an_evicted_model_predicts_exactly_as_river_after_it_reloads(settings, checkpoint_every):
    # Given model "a" that learned 20 examples (no checkpoint yet, or checkpoints at 7 and 14 and a tail of 6)
    settings.RHYTHMIC_MAX_LOADED_MODELS = 1
    settings.RHYTHMIC_CHECKPOINT_EVERY = checkpoint_every
    live_model("a")
    live_model("b")
    reference = regressor()
    for x, y in examples(20):
        serving.learn(model="a", features=x, ground_truth=y)
        reference.learn_one(x, y)
    assert Checkpoint.objects.exists() == (checkpoint_every < 20)
    # When "b" is loaded, which evicts "a"
    serving.predict(model="b", features={"x": 1.0})
    assert loaded() == {"b"}
    # Then "a" reloads and predicts exactly what river predicts after the same 20 examples
    for x, _ in examples(5, start=20):
        assert serving.predict(model="a", features=x).prediction == reference.predict_one(x)
    assert serving.metrics(model="a")["n_learned"] == 20


def test_an_evicted_model_keeps_its_metrics_and_pending_ids_exactly(settings):
    # Given "a" serving predict(id) + learn(id) and a process that never evicts it, side by side with river
    settings.RHYTHMIC_MAX_LOADED_MODELS = 1
    live_model("a")
    live_model("b")
    model, expected = regressor(), metrics.MAE() + metrics.RMSE() + metrics.SMAPE()
    data = examples(60)
    for i, (x, y) in enumerate(data):
        prediction = serving.predict(model="a", features=x, id=i).prediction
        assert prediction == model.predict_one(x)
        if i % 10 == 9:  # every tenth pair "b" is called between predict and learn: "a" is evicted with an id waiting
            serving.predict(model="b", features={"x": 1.0})
            assert "a" not in loaded()
        serving.learn(model="a", id=i, ground_truth=y)
        expected.update(y, prediction)
        model.learn_one(x, y)
    # Then its metrics are river's progressive validation, exactly, and evictions happened
    served = serving.metrics(model="a")
    assert served["metrics"] == {type(m).__name__: m.get() for m in expected}
    assert served["n_learned"] == 60
    assert current().replicas.evictions >= 6
    # And a process that never evicted it reports the same
    settings.RHYTHMIC_MAX_LOADED_MODELS = 0
    with acting_as(ServingProcess()):
        assert serving.metrics(model="a") == served


def test_an_entry_in_use_is_not_evicted(settings):
    # Given a budget of one model and a thread holding "a" (a call in progress)
    settings.RHYTHMIC_MAX_LOADED_MODELS = 1
    live_model("a")
    live_model("b")
    serving.predict(model="a", features={"x": 1.0})
    entry = current().replicas.entry("a")
    with held(entry):
        # When "b" is loaded
        serving.predict(model="b", features={"x": 1.0})
        # Then "a" stays (over the budget for now), and goes at the next load once it is idle
        assert loaded() == {"a", "b"}
    live_model("c")
    serving.predict(model="c", features={"x": 1.0})
    assert loaded() == {"c"}


def test_an_evicted_model_reloads_with_what_another_process_learned_meanwhile(settings):
    # Given "a" that learned 5 examples here, then was evicted
    settings.RHYTHMIC_MAX_LOADED_MODELS = 1
    settings.RHYTHMIC_CHECKPOINT_EVERY = 3
    live_model("a")
    live_model("b")
    reference = regressor()
    data = examples(12)
    for x, y in data[:5]:
        serving.learn(model="a", features=x, ground_truth=y)
        reference.learn_one(x, y)
    serving.predict(model="b", features={"x": 1.0})
    assert "a" not in loaded()
    # When another process learns 6 more (checkpointing at 6 and 9)
    with acting_as(ServingProcess()):
        for x, y in data[5:11]:
            serving.learn(model="a", features=x, ground_truth=y)
            reference.learn_one(x, y)
    # Then this process reloads "a" with all 11, exactly
    x = data[11][0]
    assert serving.predict(model="a", features=x).prediction == reference.predict_one(x)
    assert serving.metrics(model="a")["n_learned"] == 11


# --- the memory budget (RHYTHMIC_MAX_LOADED_MB) ----------------------------------------------------------


def size_of_one(settings, name="probe"):
    """The measured bytes of one live regression model's replica, as the tests below load them."""
    settings.RHYTHMIC_MAX_LOADED_MB = 1024
    live_model(name)
    serving.predict(model=name, features={"x": 1.0})
    size = current().replicas.entry(name).size()
    current().forget()
    return size


def test_without_a_memory_budget_nothing_is_measured(settings):
    settings.RHYTHMIC_MAX_LOADED_MB = 0
    live_model("a")
    serving.predict(model="a", features={"x": 1.0})
    assert current().replicas.entry("a").size() == 0
    assert current().loaded_bytes() == 0


def test_with_a_memory_budget_a_replica_is_measured_at_load_and_again_at_each_checkpoint(settings):
    # Given a memory budget, checkpoints every 5 learns, and "a" loaded
    settings.RHYTHMIC_MAX_LOADED_MB = 1024
    settings.RHYTHMIC_CHECKPOINT_EVERY = 5
    live_model("a")
    entry = current().replicas.entry("a")
    with entry.lock:
        replica = entry.production()
    at_load = replica.size
    assert at_load == asizeof.asizeof(replica.servable.obj, replica.metrics) > 0
    # When it learns 4 examples, each with a new feature (its state grows), the size stays as measured at load
    for i in range(4):
        serving.learn(model="a", features={f"f{i}": 1.0}, ground_truth=1.0)
    assert asizeof.asizeof(replica.servable.obj, replica.metrics) > at_load == replica.size
    # Then the 5th, which checkpoints, measures it again
    serving.learn(model="a", features={"f4": 1.0}, ground_truth=1.0)
    assert replica.since_checkpoint == 0
    assert replica.size == asizeof.asizeof(replica.servable.obj, replica.metrics) > at_load
    assert current().loaded_bytes() == replica.size


@pytest.mark.parametrize("checkpoint_every", [1000, 3])
def test_under_a_memory_budget_models_are_evicted_and_reload_predicting_exactly_as_river(settings, checkpoint_every):
    # Given five models and a memory budget of about two of them
    size = size_of_one(settings)
    settings.RHYTHMIC_MAX_LOADED_MB = 2.5 * size / 2**20
    settings.RHYTHMIC_CHECKPOINT_EVERY = checkpoint_every
    names = [f"m{i}" for i in range(5)]
    references = {}
    for name in names:
        live_model(name)
        references[name] = regressor()
    # When each learns and predicts in turn, 8 rounds (every call to a model loads it again)
    data = examples(8 * len(names) + 1)
    for i, (x, y) in enumerate(data[:-1]):
        name = names[i % len(names)]
        serving.learn(model=name, features=x, ground_truth=y)
        references[name].learn_one(x, y)
        # Then every prediction is river's after the same examples, and the others were evicted
        probe = data[i + 1][0]
        assert serving.predict(model=name, features=probe).prediction == references[name].predict_one(probe)
        assert name in loaded()
        assert len(loaded()) <= 3
    assert current().replicas.evictions >= 8 * len(names) - 3
    for name in names:
        assert serving.metrics(model=name)["n_learned"] == 8


def test_under_a_memory_budget_the_least_recently_used_model_goes_first(settings):
    # Given a budget of about two models, "a" and "b" loaded and "b" the least recently used
    size = size_of_one(settings)
    settings.RHYTHMIC_MAX_LOADED_MB = 2.5 * size / 2**20
    for name in "abc":
        live_model(name)
    serving.predict(model="a", features={"x": 1.0})
    serving.predict(model="b", features={"x": 1.0})
    serving.predict(model="a", features={"x": 1.0})
    assert current().replicas.evictions == 0
    # When "c" is loaded
    serving.predict(model="c", features={"x": 1.0})
    # Then "b" was evicted, the others stay, within the budget
    assert loaded() == {"a", "c"}
    assert current().replicas.evictions == 1
    assert current().loaded_bytes() <= settings.RHYTHMIC_MAX_LOADED_MB * 2**20


def test_under_a_memory_budget_an_entry_in_use_is_not_evicted(settings):
    # Given a budget of about one model and a thread holding "a" (a call in progress)
    size = size_of_one(settings)
    settings.RHYTHMIC_MAX_LOADED_MB = 1.5 * size / 2**20
    for name in "abc":
        live_model(name)
    serving.predict(model="a", features={"x": 1.0})
    entry = current().replicas.entry("a")
    with held(entry):
        # When "b" is loaded
        serving.predict(model="b", features={"x": 1.0})
        # Then "a" stays (over the budget for now)
        assert loaded() == {"a", "b"}
    # And goes at the next load once it is idle
    serving.predict(model="c", features={"x": 1.0})
    assert loaded() == {"c"}


@pytest.mark.parametrize(("models", "megabytes_of"), [(2, 100), (100, 2.5)])
def test_with_both_budgets_set_each_is_enforced(settings, models, megabytes_of):
    # Given a count budget and a memory budget (in sizes of one model), one of them the tighter
    size = size_of_one(settings)
    settings.RHYTHMIC_MAX_LOADED_MODELS = models
    settings.RHYTHMIC_MAX_LOADED_MB = megabytes_of * size / 2**20
    # When four models are loaded in turn
    for name in "abcd":
        live_model(name)
        serving.predict(model=name, features={"x": 1.0})
    # Then the tighter budget kept the last two
    assert loaded() == {"c", "d"}
    assert current().replicas.evictions == 2


def test_a_model_larger_than_the_budget_alone_stays_loaded_and_is_reported_once(settings, caplog):
    # Given a memory budget smaller than one model
    settings.RHYTHMIC_MAX_LOADED_MB = 0.001
    live_model("big")
    live_model("other")
    # When "big" is used, evicted by "other" (as large), and used again
    with caplog.at_level(logging.WARNING, logger="serving.replicas"):
        for name in ("big", "other", "big", "other", "big"):
            serving.predict(model=name, features={"x": 1.0})
            # Then the model in use stays loaded, alone
            assert loaded() == {name}
    # And each model was reported once, with its size and the budget
    reports = [record.getMessage() for record in caplog.records if "RHYTHMIC_MAX_LOADED_MB" in record.getMessage()]
    assert len(reports) == 2
    size = current().replicas.entry("big").size()
    assert reports[0] == (
        f"model 'big' alone takes {size / 2**20:.3f} MiB of replicas, more than RHYTHMIC_MAX_LOADED_MB=0.001: it "
        "stays loaded while it is used, and every other idle model is evicted"
    )
    assert reports[1].startswith("model 'other' alone takes")
    assert current().replicas.evictions == 4
