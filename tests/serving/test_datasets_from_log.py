"""A dataset built from a model's learn log holds exactly its learns: the log's (features, ground truth), in seq
order, over the range asked for, without the entries a rewind put aside."""

import itertools

import dill
import pytest
from river import datasets, linear_model, preprocessing

import serving
from catalogue import services
from catalogue.datasets import dataset_rows
from catalogue.errors import Conflict, InvalidInput, TooLarge
from serving.datasets import dataset_from_log, target_name
from serving.models import LearnEvent
from serving.rewind import version_rewind
from tests import factories

pytestmark = pytest.mark.django_db

EVENTS = list(itertools.islice(datasets.TrumpApproval(), 40))


@pytest.fixture
def live(settings):
    settings.RHYTHMIC_BACKTEST_CHUNK = 7  # several keyset chunks
    model = factories.MLModelFactory(name="live")
    pipeline = preprocessing.StandardScaler() | linear_model.LinearRegression()
    version = factories.ModelVersionFactory(model=model, artifact=dill.dumps(pipeline))
    services.deployment_promote(version=version)
    for x, y in EVENTS:
        serving.learn(model="live", features=x, ground_truth=y)
    return model, version


def logged(model, *, low=1, high=None, leave_out=()):
    events = LearnEvent.objects.filter(model=model, seq__gte=low).order_by("seq")
    if high is not None:
        events = events.filter(seq__lte=high)
    return [(e.features, e.ground_truth) for e in events if e.seq not in leave_out]


def test_a_dataset_from_the_log_holds_exactly_its_learns_in_order(live, maintainer):
    model, _ = live

    dataset = dataset_from_log(model=model, name="history", user=maintainer)

    assert list(dataset_rows(dataset)) == logged(model) == EVENTS
    assert (dataset.rows, dataset.from_seq, dataset.to_seq) == (40, 1, 40)
    assert dataset.source_model == model and dataset.target == "ground_truth" and dataset.format == "jsonl"
    assert dataset.created_by == maintainer


def test_a_seq_range_holds_exactly_those_learns(live):
    model, _ = live

    dataset = dataset_from_log(model=model, name="middle", from_seq=11, to_seq=25)

    assert list(dataset_rows(dataset)) == logged(model, low=11, high=25) == EVENTS[10:25]
    assert (dataset.rows, dataset.from_seq, dataset.to_seq) == (15, 11, 25)


def test_entries_a_rewind_put_aside_are_left_out(live):
    model, version = live
    version_rewind(model=model, version=version, skip=[5, 6, 30])

    dataset = dataset_from_log(model=model, name="clean")

    assert list(dataset_rows(dataset)) == logged(model, leave_out={5, 6, 30})
    assert dataset.rows == 37


def test_a_rewind_to_a_point_leaves_out_the_undone_tail(live):
    model, version = live
    version_rewind(model=model, version=version, to_seq=30)

    dataset = dataset_from_log(model=model, name="before")

    assert list(dataset_rows(dataset)) == EVENTS[:30]


def test_the_target_column_never_takes_a_features_name():
    assert target_name({"x"}) == "ground_truth"
    assert target_name({"ground_truth", "ground_truth_2"}) == "ground_truth_3"


def test_a_feature_named_ground_truth_keeps_its_name_and_the_target_moves_aside(settings):
    model = factories.MLModelFactory(name="clash")
    version = factories.ModelVersionFactory(model=model, artifact=dill.dumps(linear_model.LinearRegression()))
    services.deployment_promote(version=version)
    serving.learn(model="clash", features={"ground_truth": 1.0, "x": 2.0}, ground_truth=3.0)

    dataset = dataset_from_log(model=model, name="clash")

    assert dataset.target == "ground_truth_2"
    assert list(dataset_rows(dataset)) == [({"ground_truth": 1.0, "x": 2.0}, 3.0)]


def test_an_empty_range_is_a_conflict(live):
    model, _ = live

    with pytest.raises(Conflict, match="holds no entry"):
        dataset_from_log(model=model, name="nothing", from_seq=41, to_seq=50)


def test_bad_ranges_are_refused(live):
    model, _ = live

    with pytest.raises(InvalidInput, match="from_seq"):
        dataset_from_log(model=model, name="x", from_seq=0)
    with pytest.raises(InvalidInput, match=r"from_seq \(9\) is after to_seq \(3\)"):
        dataset_from_log(model=model, name="x", from_seq=9, to_seq=3)


def test_a_log_slice_over_the_size_limit_is_refused(live, settings):
    model, _ = live
    settings.RHYTHMIC_MAX_DATASET_BYTES = 500

    with pytest.raises(TooLarge, match="RHYTHMIC_MAX_DATASET_BYTES"):
        dataset_from_log(model=model, name="big")


def test_a_range_past_the_head_holds_and_records_the_entries_up_to_the_head(live):
    model, _ = live

    dataset = dataset_from_log(model=model, name="tail", from_seq=35, to_seq=500)

    assert list(dataset_rows(dataset)) == EVENTS[34:]
    assert (dataset.from_seq, dataset.to_seq) == (35, 40)
