"""Nothing grows without bound: learn-log retention (checkpoint, then prune) and the cap on pending predictions."""

import itertools
from datetime import timedelta

import dill
import pytest
from django.db import DatabaseError
from django.utils import timezone
from river import datasets, linear_model, preprocessing

import serving
from catalogue import services
from catalogue.errors import NotFound
from catalogue.models import MLModel
from serving import log, retention, tasks
from serving.models import Checkpoint, LearnEvent, PendingPrediction
from serving.process import ServingProcess, acting_as, current
from serving.replicas import Replicas
from tests import factories

pytestmark = pytest.mark.django_db

STREAM = list(itertools.islice(datasets.TrumpApproval(), 35))
PROBE = STREAM[0][0]


def regressor():
    return preprocessing.StandardScaler() | linear_model.LinearRegression()


def live_model(name="live"):
    model = factories.MLModelFactory(name=name)
    version = factories.ModelVersionFactory(model=model, artifact=dill.dumps(regressor()))
    services.deployment_promote(version=version)
    return model, version


def learn_stream(stream=STREAM, *, model="live"):
    for x, y in stream:
        serving.learn(model=model, features=x, ground_truth=y)


def age_log(days: int) -> None:
    LearnEvent.objects.update(created_at=timezone.now() - timedelta(days=days))


def served(model="live", version=None) -> tuple:
    """What a client sees: a prediction and the version's metrics."""
    answer = serving.predict(model=model, features=PROBE).prediction
    return answer, serving.metrics(model=model, version=version)


@pytest.fixture
def retention_settings(settings):
    settings.RHYTHMIC_CHECKPOINT_EVERY = 10
    settings.RHYTHMIC_LOG_RETENTION_DAYS = 30
    settings.RHYTHMIC_LOG_RETENTION_ENTRIES = 0
    return settings


# --- learn-log retention ------------------------------------------------------------------------


def test_entries_past_the_retention_are_pruned_and_a_restarted_process_serves_the_same(retention_settings):
    # Given a model that learned 35 entries, checkpointed at 10, 20, 30, all older than the retention
    live_model()
    learn_stream()
    age_log(days=31)
    before = served()
    # When the log is pruned
    deleted = retention.log_prune()
    # Then every entry went (the last five after a checkpoint the prune wrote at 35)
    assert deleted == 35
    assert not LearnEvent.objects.exists()
    assert Checkpoint.objects.order_by("-seq").values_list("seq", flat=True).first() == 35
    # And a freshly started process answers and scores exactly as before
    current().forget()
    assert served() == before
    assert serving.metrics(model="live")["n_learned"] == 35


def test_entries_younger_than_the_retention_are_kept(retention_settings):
    live_model()
    learn_stream()
    age_log(days=29)
    assert retention.log_prune() == 0
    assert LearnEvent.objects.count() == 35


def test_only_entries_older_than_the_retention_go(retention_settings):
    # Given 35 entries of which the first 20 are old
    live_model()
    learn_stream()
    LearnEvent.objects.filter(seq__lte=20).update(created_at=timezone.now() - timedelta(days=40))
    # When the log is pruned, then those 20 go and the rest stay
    assert retention.log_prune() == 20
    assert list(LearnEvent.objects.values_list("seq", flat=True)) == list(range(21, 36))


def test_an_entry_count_keeps_the_newest_entries_of_each_model(retention_settings):
    retention_settings.RHYTHMIC_LOG_RETENTION_DAYS = 0
    retention_settings.RHYTHMIC_LOG_RETENTION_ENTRIES = 10
    live_model()
    learn_stream()
    before = served()
    assert retention.log_prune() == 25
    assert list(LearnEvent.objects.values_list("seq", flat=True)) == list(range(26, 36))
    current().forget()
    assert served() == before


def test_no_bound_keeps_the_whole_log(retention_settings):
    retention_settings.RHYTHMIC_LOG_RETENTION_DAYS = 0
    live_model()
    learn_stream()
    age_log(days=3650)
    assert retention.log_prune() == 0
    assert LearnEvent.objects.count() == 35


def test_a_version_without_a_checkpoint_gets_one_before_its_entries_go(retention_settings):
    # Given a version that never checkpointed (it learned fewer entries than RHYTHMIC_CHECKPOINT_EVERY)
    retention_settings.RHYTHMIC_CHECKPOINT_EVERY = 1000
    _, version = live_model()
    learn_stream()
    age_log(days=31)
    before = served()
    assert not Checkpoint.objects.exists()
    # When the log is pruned, then it is checkpointed at the head first, and a restart replays nothing
    assert retention.log_prune() == 35
    assert list(Checkpoint.objects.filter(version=version).values_list("seq", flat=True)) == [35]
    current().forget()
    assert served() == before


def test_a_retired_version_that_learned_is_covered_by_its_latest_checkpoint(retention_settings):
    # Given version 1 learned 20 entries, then version 2 went to production and learned 15, none checkpointed
    retention_settings.RHYTHMIC_CHECKPOINT_EVERY = 1000
    model, v1 = live_model()
    learn_stream(STREAM[:20])
    v2 = factories.ModelVersionFactory(
        model=model, artifact=dill.dumps(preprocessing.StandardScaler() | linear_model.LinearRegression(l2=0.1))
    )
    services.deployment_promote(version=v2)
    learn_stream(STREAM[20:])
    age_log(days=31)
    before = (served(version=1), served(version=2))
    # When a process that has not loaded them prunes the log
    current().forget()
    assert retention.log_prune() == 35
    # Then it checkpointed version 1 at the head, without keeping it loaded
    assert list(Checkpoint.objects.filter(version=v1).values_list("seq", flat=True)) == [35]
    assert v1.pk not in current().replicas.entry("live").replicas
    # And both versions, reloaded from their checkpoints, score as before
    current().forget()
    assert (served(version=1), served(version=2)) == before
    assert serving.metrics(model="live", version=1)["n_learned"] == 20


def test_a_process_behind_the_pruned_entries_reloads_from_the_checkpoints():
    # Given a process that loaded the model after 5 learns and then saw nothing more
    live_model()

    idle = ServingProcess()
    with acting_as(idle):
        learn_stream(STREAM[:5])
        serving.predict(model="live", features=PROBE)
    # And another that learned 30 more, checkpointing, before those entries were pruned
    learn_stream(STREAM[5:])
    expected = served()
    LearnEvent.objects.filter(seq__lte=30).update(created_at=timezone.now() - timedelta(days=40))
    assert retention.log_prune() == 30
    # When the idle process answers again, then it gives the same answers as the one that learned them
    with acting_as(idle):
        assert served() == expected


def test_a_replica_loaded_by_a_process_behind_a_newer_checkpoint_starts_from_it(retention_settings):
    # Given a process whose view of the log is 5 entries old, and a checkpoint at 30 after which entries
    # up to 30 were pruned
    _, version = live_model()
    learn_stream(STREAM[:5])
    behind = Replicas().entry("live")
    learn_stream(STREAM[5:])
    expected = serving.metrics(model="live")
    LearnEvent.objects.filter(seq__lte=30).update(created_at=timezone.now() - timedelta(days=40))
    assert retention.log_prune() == 30
    # When it loads the version, then it catches up to the checkpoint and holds every learn
    with behind.lock:
        replica = behind.replica(version.pk)
        assert (replica.n_learned, replica.metrics.values()) == (35, expected["metrics"])
        assert behind.applied_seq == 35


def test_a_replica_whose_tail_is_pruned_while_it_replays_loads_again(retention_settings, monkeypatch):
    # Given a version checkpointed at 10 that learned 5 more, and a process starting to load it
    _, version = live_model()
    learn_stream(STREAM[:15])
    loading = Replicas().entry("live")
    read_tail = log.read_tail
    interfered = []

    def read_tail_meanwhile(**kwargs):
        if kwargs.get("version_id") is not None and not interfered:
            # While it reads the tail after checkpoint 10: 20 more learns elsewhere, then a prune to 30
            interfered.append(True)
            learn_stream(STREAM[15:])
            LearnEvent.objects.filter(seq__lte=30).update(created_at=timezone.now() - timedelta(days=40))
            assert retention.log_prune() == 30
        return read_tail(**kwargs)

    monkeypatch.setattr(log, "read_tail", read_tail_meanwhile)
    # When it finishes loading, then it noticed the newer checkpoint and loaded again from it
    with loading.lock:
        replica = loading.replica(version.pk)
    assert interfered
    assert (replica.n_learned, loading.applied_seq) == (35, 35)


def test_a_learned_id_pruned_from_the_log_answers_a_clear_not_found(retention_settings):
    # Given an id learned long ago and pruned with its entry
    live_model()
    serving.predict(model="live", features=PROBE, id="a")
    serving.learn(model="live", id="a", ground_truth=1.0)
    age_log(days=31)
    retention.log_prune()
    # When a client retries that learn, then it is told why, and nothing is learned twice
    with pytest.raises(NotFound, match="learned longer ago than the learn log's retention"):
        serving.learn(model="live", id="a", ground_truth=1.0)
    assert MLModel.objects.get().learn_seq == 1


def test_a_replica_that_applied_everything_keeps_serving_after_the_prune(retention_settings):
    live_model()
    learn_stream()
    age_log(days=31)
    retention.log_prune()
    # Then the next learns go on from the same state: the same as a process that never pruned
    learn_stream(STREAM[:5])
    after = served()
    current().forget()
    assert served() == after
    assert after[1]["n_learned"] == 40


def test_the_prune_task_prunes_and_celery_beat_runs_it_hourly(retention_settings):
    live_model()
    learn_stream()
    age_log(days=31)
    assert tasks.prune_log.delay().get() == 35
    assert retention_settings.CELERY_BEAT_SCHEDULE["prune-learn-log"] == {
        "task": "catalogue.prune_log",
        "schedule": 3600.0,
    }


def test_a_process_that_learns_prunes_now_and_then_without_celery_beat(retention_settings):
    # Given old entries, and a process that may prune at every learn
    retention_settings.RHYTHMIC_LOG_PRUNE_SECONDS = 0
    live_model()
    learn_stream()
    age_log(days=31)
    # When it learns once more, then the old entries are gone
    learn_stream(STREAM[:1])
    assert list(LearnEvent.objects.values_list("seq", flat=True)) == [36]


# --- pending predictions: the cap and label coverage ---------------------------------------------


def test_past_the_cap_the_oldest_pending_predictions_expire_first(settings):
    settings.RHYTHMIC_MAX_PENDING = 3
    live_model()
    for key in "abcde":
        serving.predict(model="live", features=PROBE, id=key)
    assert sorted(PendingPrediction.objects.values_list("key", flat=True)) == ['"c"', '"d"', '"e"']
    with pytest.raises(NotFound, match="sooner when 3 newer ones wait"):
        serving.learn(model="live", id="a", ground_truth=1.0)
    serving.learn(model="live", id="c", ground_truth=1.0)


def test_the_cap_is_checked_once_per_tenth_of_it_not_at_every_predict(settings):
    # Given a cap of 100 (a process trims after every 10 ids it stores) and 100 pending predictions
    settings.RHYTHMIC_MAX_PENDING = 100
    live_model()
    serving.predict_many(model="live", items=[{"features": PROBE, "id": i} for i in range(100)])
    # When 9 more come, then they are stored without a count
    for i in range(9):
        serving.predict(model="live", features=PROBE, id=f"more-{i}")
    assert PendingPrediction.objects.count() == 109
    # And the tenth since the last trim trims back to the cap, the oldest first
    serving.predict(model="live", features=PROBE, id="tenth")
    assert PendingPrediction.objects.count() == 100
    gone = [log.pending_key(i) for i in range(10)]
    assert not PendingPrediction.objects.filter(key__in=gone).exists()
    assert PendingPrediction.objects.filter(key=log.pending_key(10)).exists()


def test_a_trim_that_fails_does_not_fail_the_predict(settings, monkeypatch):
    # Given a cap checked at every id, and a trim that fails (a deadlock with another process's, say)
    settings.RHYTHMIC_MAX_PENDING = 1
    live_model()

    def deadlock(**_):
        raise DatabaseError("deadlock detected")

    monkeypatch.setattr(log, "pending_trim", deadlock)
    # When a prediction with an id is made, then it is answered and kept
    assert serving.predict(model="live", features=PROBE, id="a").id == "a"
    assert PendingPrediction.objects.filter(key='"a"').exists()


def test_label_coverage_counts_labelled_ids_and_every_way_an_id_expires(settings):
    # Given five predictions with an id
    settings.RHYTHMIC_MAX_PENDING = 4
    live_model()
    for key in "abcde":
        serving.predict(model="live", features=PROBE, id=key)  # "a" is pushed out by the cap
    # When two get their ground truth, one expires by age in the sweep, one is learned too late
    serving.learn(model="live", id="d", ground_truth=1.0)
    serving.learn(model="live", id="e", ground_truth=2.0)
    old = timezone.now() - timedelta(seconds=settings.RHYTHMIC_PENDING_TTL + 1)
    PendingPrediction.objects.filter(key='"b"').update(created_at=old)
    assert log.pending_expire() == 1
    PendingPrediction.objects.filter(key='"c"').update(created_at=old)
    [late] = serving.learn_many(model="live", items=[{"id": "c", "ground_truth": 3.0}])
    assert late["error"]["code"] == "not_found"
    # Then the model's label coverage is 2 labelled out of 5, in every process
    expected = {"labelled": 2, "expired": 3, "coverage": 0.4}
    assert serving.metrics(model="live")["labels"] == expected
    assert MLModel.objects.values_list("pending_labelled", "pending_expired").get() == (2, 3)


def test_no_label_coverage_before_any_id_is_labelled_or_expired():
    live_model()
    assert serving.metrics(model="live")["labels"] == {"labelled": 0, "expired": 0, "coverage": None}


def test_a_learn_without_an_id_is_not_a_labelled_prediction():
    live_model()
    learn_stream(STREAM[:3])
    assert serving.metrics(model="live")["labels"]["labelled"] == 0
