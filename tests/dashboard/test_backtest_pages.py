"""The model Dashboard's Backtests card: the list with progress bars and results, starting and cancelling."""

import pytest
from django.urls import reverse

import serving
from serving import backtests
from serving.models import Backtest

pytestmark = pytest.mark.django_db


@pytest.fixture
def learned(served_model):
    for x in range(12):
        serving.learn(model=served_model.name, features={"x": float(x)}, ground_truth=2.0 * x)
    return served_model


def page_of(client, model) -> str:
    response = client.get(reverse("dashboard:model", kwargs={"name": model.name}))
    assert response.status_code == 200
    return response.content.decode()


def start_url(model) -> str:
    return reverse("dashboard:backtest-start", kwargs={"name": model.name})


def test_the_card_offers_a_form_to_start_a_backtest_of_a_ready_version(maintainer_web, learned):
    html = page_of(maintainer_web, learned)
    assert 'id="backtests"' in html
    assert 'name="version"' in html and '<option value="1" selected>v1 (production)</option>' in html
    assert 'placeholder="12"' in html  # the log's end
    assert "No backtests yet." in html
    assert "dashboard/jobs.js" in html


def test_starting_a_backtest_goes_back_to_the_card_with_a_queued_row(maintainer_web, learned):
    response = maintainer_web.post(start_url(learned), {"version": "2", "from_seq": "3", "to_seq": ""}, follow=True)
    backtest = Backtest.objects.get()
    assert response.redirect_chain[-1][0].endswith("#backtests")
    html = response.content.decode()
    assert f"Backtest #{backtest.pk} of v2 started over learn #3 to #12." in html
    assert f'data-backtest="{backtest.pk}" data-status="queued"' in html
    assert "data-live" in html  # the script follows it
    assert f'aria-label="progress of backtest {backtest.pk}"' in html


def test_a_finished_backtest_shows_its_metrics_beside_the_baseline(maintainer_web, learned):
    backtest = backtests.backtest_start(model=learned, version=1)
    backtests.run(backtest.pk)
    backtest.refresh_from_db()
    html = page_of(maintainer_web, learned)
    assert 'data-status="succeeded"' in html
    assert '<progress max="100" value="100"' in html
    assert "12 / 12 events" in html
    assert '<tr data-metric="MAE">' in html
    assert "Baseline: what the versions that served these events scored." in html
    assert "data-live" not in html


def test_a_start_the_core_refuses_is_a_message_on_the_card(maintainer_web, learned):
    response = maintainer_web.post(start_url(learned), {"version": "1", "from_seq": "9", "to_seq": "4"}, follow=True)
    assert "Backtest not started: from_seq (9) is after to_seq (4): the range is empty" in response.content.decode()
    response = maintainer_web.post(start_url(learned), {"version": "one"}, follow=True)
    assert "Backtest not started: version must be a whole number, not &#x27;one&#x27;" in response.content.decode()
    assert not Backtest.objects.exists()


def test_cancelling_a_queued_backtest_from_the_card(maintainer_web, learned):
    backtest = backtests.backtest_start(model=learned, version=1)
    url = reverse("dashboard:backtest-cancel", kwargs={"name": learned.name, "pk": backtest.pk})
    assert f'action="{url}"' in page_of(maintainer_web, learned)
    response = maintainer_web.post(url, follow=True)
    assert f"Backtest #{backtest.pk}: cancel requested (cancelled)." in response.content.decode()
    backtest.refresh_from_db()
    assert backtest.status == Backtest.Status.CANCELLED


def test_a_reader_sees_the_card_without_the_form_and_cannot_start_one(reader_web, learned):
    backtest = backtests.backtest_start(model=learned, version=1)
    html = page_of(reader_web, learned)
    assert f'data-backtest="{backtest.pk}"' in html
    assert 'name="version"' not in html and "Cancel" not in html
    response = reader_web.post(start_url(learned), {"version": "1"})
    assert response.status_code == 403
    assert "starting a backtest needs the catalogue.change_mlmodel permission" in response.content.decode()
