"""Rewinding a poisoned state: the rewound version equals a river model trained only on the clean events, in
every process (one that held it before, another, a fresh one), across checkpoints, and keeps learning."""

import itertools

import dill
import pytest
from river import datasets, linear_model, metrics, preprocessing

import serving
from catalogue import services
from catalogue.errors import Conflict, InvalidInput
from serving import log, retention
from serving.models import Checkpoint, LearnEvent, Rewind, VersionSkip
from serving.process import ServingProcess, acting_as, current
from serving.rewind import version_rewind, version_rewind_preview
from tests import factories

pytestmark = pytest.mark.django_db

CLEAN = list(itertools.islice(datasets.TrumpApproval(), 60))
PROBES = [x for x, _ in CLEAN[:5]]
N_CLEAN = 25
N_POISON = 10


def poisoned(events):
    """Ground truths off by a mile: what a broken upstream labeller sends."""
    return [(x, y * 50 + 10_000) for x, y in events]


def regressor():
    return preprocessing.StandardScaler() | linear_model.LinearRegression()


@pytest.fixture
def live(settings, maintainer):
    settings.RHYTHMIC_CHECKPOINT_EVERY = 4  # checkpoints all along, some of them after the poison
    model = factories.MLModelFactory(name="live")
    version = factories.ModelVersionFactory(model=model, artifact=dill.dumps(regressor()))
    services.deployment_promote(version=version)
    return model, version


def learn(events, model="live"):
    for x, y in events:
        serving.learn(model=model, features=x, ground_truth=y)


def reference(events):
    """River alone: progressive validation (predict, score, learn) over ``events``."""
    model, scores = regressor(), [metrics.MAE(), metrics.RMSE(), metrics.SMAPE()]
    for x, y in events:
        prediction = model.predict_one(x)
        for score in scores:
            score.update(y, prediction)
        model.learn_one(x, y)
    return model, {type(score).__name__: score.get() for score in scores}


def assert_serves(expected_model, expected_metrics, n_learned, model="live"):
    for probe in PROBES:
        assert serving.predict(model=model, features=probe).prediction == pytest.approx(
            expected_model.predict_one(probe), abs=1e-9, rel=1e-9
        )
    served = serving.metrics(model=model)
    assert served["n_learned"] == n_learned
    assert served["metrics"] == pytest.approx(expected_metrics, abs=1e-9, rel=1e-9)


def poison_log():
    """25 clean entries then 10 poisoned ones (seqs 26-35)."""
    learn(CLEAN[:N_CLEAN])
    learn(poisoned(CLEAN[N_CLEAN : N_CLEAN + N_POISON]))


# --- to_seq ---------------------------------------------------------------------------------------


def test_a_rewind_to_a_seq_serves_what_river_trained_on_the_clean_prefix_serves_in_every_process(live, maintainer):
    model, version = live
    # Given a process that served the poisoned state, and another one that loaded it too
    poison_log()
    other = ServingProcess()
    with acting_as(other):
        serving.predict(model="live", features=PROBES[0])
    assert Checkpoint.objects.filter(version=version, seq__gt=N_CLEAN).exists()
    # When the version is rewound to right after the last clean entry
    rewind = version_rewind(model=model, version=version, to_seq=N_CLEAN, user=maintainer, reason="bad labels")
    # Then it undid the ten poisoned entries, which stay in the log, skipped for the version
    assert rewind.n_undone == N_POISON and rewind.head_seq == N_CLEAN + N_POISON
    assert LearnEvent.objects.count() == N_CLEAN + N_POISON
    assert list(VersionSkip.objects.values_list("from_seq", "to_seq")) == [(N_CLEAN + 1, N_CLEAN + N_POISON)]
    assert not Checkpoint.objects.filter(version=version, seq__gt=N_CLEAN).exists()
    # And every process serves exactly what river trained on the clean entries only serves
    expected = reference(CLEAN[:N_CLEAN])
    assert_serves(*expected, n_learned=N_CLEAN)  # this process, which held the poisoned state
    with acting_as(other):  # another that held it
        assert_serves(*expected, n_learned=N_CLEAN)
    with acting_as(ServingProcess()):  # a freshly started one
        assert_serves(*expected, n_learned=N_CLEAN)


def test_learning_goes_on_from_the_rewound_state_and_checkpoints_after_it_are_right(live):
    model, version = live
    poison_log()
    version_rewind(model=model, version=version, to_seq=N_CLEAN)
    # When clean entries keep coming (checkpointed every 4)
    more = CLEAN[N_CLEAN + N_POISON :]
    learn(more)
    # Then the state is river's on the clean prefix followed by them, here and in a fresh process
    expected = reference(CLEAN[:N_CLEAN] + more)
    n = N_CLEAN + len(more)
    assert_serves(*expected, n_learned=n)
    assert Checkpoint.objects.filter(version=version, seq__gt=N_CLEAN + N_POISON).exists()
    current().forget()
    assert_serves(*expected, n_learned=n)


def test_a_process_that_has_not_seen_the_rewind_cannot_store_the_undone_state(live):
    model, version = live
    poison_log()
    entry = current().replicas.entry("live")
    with entry.lock:
        replica = entry.production()
    version_rewind(model=model, version=version, to_seq=N_CLEAN)
    # When this process (its generation now stale) tries to checkpoint the poisoned state, it is refused
    with entry.lock:
        assert entry.checkpoint(replica) is False
    assert not Checkpoint.objects.filter(version=version, seq__gt=N_CLEAN).exists()


def test_a_rewind_is_audited(live, maintainer):
    model, version = live
    poison_log()
    version_rewind(model=model, version=version, to_seq=N_CLEAN, user=maintainer, reason="labeller bug")
    rewind = Rewind.objects.get()
    assert (rewind.model, rewind.version, rewind.user, rewind.to_seq, rewind.skip) == (
        model,
        version,
        maintainer,
        N_CLEAN,
        [],
    )
    assert (rewind.head_seq, rewind.n_undone, rewind.reason) == (N_CLEAN + N_POISON, N_POISON, "labeller bug")
    assert rewind.created_at is not None


# --- skip -----------------------------------------------------------------------------------------


def test_skipping_entries_serves_what_river_trained_without_them_serves(live):
    model, version = live
    # Given clean entries with three poisoned ones in the middle (seqs 11-13)
    events = CLEAN[:10] + poisoned(CLEAN[10:13]) + CLEAN[13:30]
    learn(events)
    other = ServingProcess()
    with acting_as(other):
        serving.predict(model="live", features=PROBES[0])
    # When they are skipped
    version_rewind(model=model, version=version, skip=[12, 11, 13])
    # Then the model is river's trained on the others
    clean = CLEAN[:10] + CLEAN[13:30]
    expected_model, _ = reference(clean)
    # And the metrics fold the predictions that were served (by river trained on everything before each
    # entry, the poison included), less the skipped entries': what was served is not scored again
    served_by, scores = regressor(), [metrics.MAE(), metrics.RMSE(), metrics.SMAPE()]
    for seq, (x, y) in enumerate(events, start=1):
        if seq not in (11, 12, 13):
            for score in scores:
                score.update(y, served_by.predict_one(x))
        served_by.learn_one(x, y)
    expected_metrics = {type(s).__name__: s.get() for s in scores}
    for process in (current(), other, ServingProcess()):
        with acting_as(process):
            assert_serves(expected_model, expected_metrics, n_learned=len(clean))


def test_skipping_the_last_entries_equals_progressive_validation_without_them(live):
    model, version = live
    learn(CLEAN[:20] + poisoned(CLEAN[20:23]))
    version_rewind(model=model, version=version, skip=[21, 22, 23])
    assert_serves(*reference(CLEAN[:20]), n_learned=20)


# --- preview --------------------------------------------------------------------------------------


def test_a_preview_shows_what_would_be_undone_and_changes_nothing(live):
    model, version = live
    poison_log()
    before = serving.metrics(model="live")
    checkpoints = set(Checkpoint.objects.values_list("pk", flat=True))
    preview = version_rewind_preview(model=model, version=version, to_seq=N_CLEAN)
    assert preview["n_undone"] == N_POISON and preview["head_seq"] == N_CLEAN + N_POISON
    assert preview["now"]["metrics"] == before["metrics"]
    assert preview["after"]["n_learned"] == N_CLEAN
    assert preview["after"]["metrics"] == pytest.approx(reference(CLEAN[:N_CLEAN])[1], abs=1e-9, rel=1e-9)
    # Nothing changed
    assert not VersionSkip.objects.exists() and not Rewind.objects.exists()
    assert set(Checkpoint.objects.values_list("pk", flat=True)) == checkpoints
    assert serving.metrics(model="live") == before


# --- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "either"),
        ({"to_seq": 3, "skip": [4]}, "not both"),
        ({"to_seq": -1}, "to_seq must be"),
        ({"to_seq": "3"}, "to_seq must be"),
        ({"to_seq": 99}, "beyond the log head #35"),
        ({"skip": []}, "non-empty list"),
        ({"skip": [True]}, "skip must list"),
        ({"skip": [36, 40]}, "#36, #40 not in the log"),
    ],
)
def test_bad_rewinds_are_refused_with_what_to_fix(live, kwargs, message):
    model, version = live
    poison_log()
    with pytest.raises(InvalidInput, match=message):
        version_rewind(model=model, version=version, **kwargs)
    assert not Rewind.objects.exists() and not VersionSkip.objects.exists()
    assert log.read_head("live").generation == 0


def test_skipping_entries_another_version_learned_is_refused(live):
    model, version = live
    learn(CLEAN[:5])
    other = factories.ModelVersionFactory(model=model)
    services.deployment_promote(version=other)
    learn(CLEAN[5:8])
    with pytest.raises(InvalidInput, match=r"#6, #7 were not learned by live v1"):
        version_rewind(model=model, version=version, skip=[2, 6, 7])


def test_nothing_to_undo_is_a_conflict(live):
    model, version = live
    learn(CLEAN[:5])
    with pytest.raises(Conflict, match="learned no entry after #5"):
        version_rewind(model=model, version=version, to_seq=5)
    version_rewind(model=model, version=version, skip=[3])
    with pytest.raises(Conflict, match="#3 are already skipped"):
        version_rewind(model=model, version=version, skip=[3])


def test_a_rewind_behind_the_pruned_log_names_the_earliest_seq(live, settings):
    model, version = live
    settings.RHYTHMIC_LOG_RETENTION_DAYS = 0
    settings.RHYTHMIC_LOG_RETENTION_ENTRIES = 5
    poison_log()  # checkpoints kept: 3 newest of every 4th, the prune leaves the last 5 entries
    retention.log_prune()
    kept = sorted(Checkpoint.objects.filter(version=version).values_list("seq", flat=True))
    with pytest.raises(Conflict, match=rf"the earliest seq it can be rewound to is #{kept[0]}"):
        version_rewind(model=model, version=version, to_seq=kept[0] - 1)
    # And rewinding to a checkpoint that remains works
    version_rewind(model=model, version=version, to_seq=kept[0])
    assert serving.metrics(model="live")["n_learned"] == kept[0]


def test_the_prune_keeps_the_entries_a_rewound_version_replays(live, settings):
    model, version = live
    poison_log()
    version_rewind(model=model, version=version, to_seq=N_CLEAN)
    settings.RHYTHMIC_LOG_RETENTION_DAYS = 0
    settings.RHYTHMIC_LOG_RETENTION_ENTRIES = 1
    retention.log_prune()
    current().forget()
    with acting_as(ServingProcess()):
        assert_serves(*reference(CLEAN[:N_CLEAN]), n_learned=N_CLEAN)


# --- the CLI --------------------------------------------------------------------------------------


def test_the_rewind_command_previews_then_rewinds(live, maintainer):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    poison_log()
    out = StringIO()
    call_command("rewind", "live", "1", "--to-seq", str(N_CLEAN), "--dry-run", stdout=out)
    assert f"would undo {N_POISON} learned entries" in out.getvalue()
    assert not Rewind.objects.exists()
    call_command("rewind", "live", "1", "--skip", "26,27", "--user", "maintainer", "--reason", "cli", stdout=out)
    assert "2 learned entries undone" in out.getvalue()
    assert Rewind.objects.get().skip == [26, 27] and Rewind.objects.get().user == maintainer
    with pytest.raises(CommandError, match="beyond the log head"):
        call_command("rewind", "live", "1", "--to-seq", "999", "--user", "maintainer")
