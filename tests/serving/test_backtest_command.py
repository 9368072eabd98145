"""``manage.py backtest``: start (waiting for the results), show, cancel, and its errors."""

import io
import itertools

import dill
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from river import datasets, linear_model, preprocessing

import serving
from catalogue import services
from serving import backtests
from serving.models import Backtest
from tests import factories

pytestmark = pytest.mark.django_db

TRUMP = list(itertools.islice(datasets.TrumpApproval(), 40))


def run(*args) -> str:
    out = io.StringIO()
    call_command("backtest", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def live(db):
    model = factories.MLModelFactory(name="live", flavor="regression")
    v1 = factories.ModelVersionFactory(
        model=model, artifact=dill.dumps(preprocessing.StandardScaler() | linear_model.LinearRegression())
    )
    services.deployment_promote(version=v1)
    for x, y in TRUMP:
        serving.learn(model="live", features=x, ground_truth=y)
    return model


@pytest.mark.django_db(transaction=True)
def test_start_without_a_broker_runs_in_the_command_and_prints_metrics_beside_the_baseline(live):
    factories.UserFactory(username="cli")
    out = run("start", "live", "--version", "1", "--from-seq", "5", "--user", "cli")
    backtest = Backtest.objects.get()
    assert backtest.status == Backtest.Status.SUCCEEDED
    assert backtest.created_by.username == "cli"
    assert f"backtest {backtest.pk}: live v1 over learn #5..#40, queued" in out
    assert "it runs in this process, which waits for it" in out
    assert "succeeded, 36/36 events (100%)" in out
    mae = backtest.metrics["values"]["MAE"]
    assert any(line.split()[:2] == ["MAE", f"{mae:.6g}"] for line in out.splitlines()), out


def test_show_lists_the_backtests_and_one_in_detail(live):
    backtest = backtests.backtest_start(model=live, version=1, to_seq=20)
    backtests.run(backtest.pk)
    listing = run("show", "live")
    assert listing.splitlines()[0].split() == ["ID", "VERSION", "RANGE", "STATUS", "PROGRESS", "EVENTS", "CREATED"]
    assert listing.splitlines()[1].split()[:6] == [str(backtest.pk), "v1", "#1..#20", "succeeded", "100%", "20/20"]
    detail = run("show", "live", str(backtest.pk))
    assert "V1 REPLAYED  BASELINE" in detail


def test_cancel_cancels_a_queued_backtest(live):
    backtest = backtests.backtest_start(model=live, version=1)
    out = run("cancel", "live", str(backtest.pk))
    assert out.strip() == f"backtest {backtest.pk}: cancel requested; now cancelled"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("start", "live", "--version", "3"), "live has no version 3"),
        (("start", "live", "--version", "1", "--to-seq", "99"), r"to_seq \(99\) is past the end"),
        (("start", "nope", "--version", "1"), "no model named 'nope'"),
        (("show", "live", "12345"), "live has no backtest 12345"),
        (("cancel", "live", "12345"), "live has no backtest 12345"),
    ],
)
def test_errors_are_command_errors_that_say_what_to_fix(live, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
