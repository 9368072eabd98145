"""``manage.py datasets``: list, add, from-log, show, delete, through the same services as the API."""

import io
import re

import dill
import pytest
from django.core.management import CommandError, call_command
from river import linear_model

import serving
from catalogue import services
from catalogue.datasets import dataset_rows
from catalogue.models import Dataset
from tests import factories
from tests.catalogue.test_datasets import TRUMP, trump_csv

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command("datasets", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_add_list_show_delete(tmp_path, maintainer):
    path = tmp_path / "trump.csv"
    path.write_bytes(trump_csv(TRUMP[:15]))

    added = run("add", str(path), "--name", "trump", "--target", "approval", "--user", "maintainer")

    assert "trump: 15 rows, 7 columns, target 'approval' (upload)" in added
    dataset = Dataset.objects.get(name="trump")
    assert list(dataset_rows(dataset)) == TRUMP[:15] and dataset.created_by == maintainer
    assert "trump" in run("list") and "approval" in run("list")
    shown = run("show", "trump", "--rows", "3")
    assert re.search(r"^ordinal_date +number +0", shown, re.MULTILINE)
    assert str(TRUMP[2][0]["ordinal_date"]) in shown and str(TRUMP[3][0]["ordinal_date"]) not in shown
    assert run("show", str(dataset.pk)).startswith(f"dataset {dataset.pk} trump")
    assert "deleted dataset" in run("delete", "trump")
    assert not Dataset.objects.exists()


def test_from_log_keeps_the_learns(maintainer):
    model = factories.MLModelFactory(name="live")
    version = factories.ModelVersionFactory(model=model, artifact=dill.dumps(linear_model.LinearRegression()))
    services.deployment_promote(version=version)
    for x, y in TRUMP[:8]:
        serving.learn(model="live", features=x, ground_truth=y)

    out = run("from-log", "live", "--name", "history", "--from-seq", "3", "--user", "maintainer")

    assert "history: 6 rows" in out and "learn log of live #3..#8" in out
    assert list(dataset_rows(Dataset.objects.get(name="history"))) == TRUMP[2:8]


def test_errors_are_command_errors(tmp_path, maintainer):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"x,y\n1\n")

    with pytest.raises(CommandError, match="line 2, column 'y'"):
        run("add", str(bad), "--name", "bad", "--target", "y", "--user", "maintainer")
    with pytest.raises(CommandError, match="no file at"):
        run("add", str(tmp_path / "missing.csv"), "--name", "m", "--target", "y", "--user", "maintainer")
    with pytest.raises(CommandError, match="no dataset named 'nope'"):
        run("show", "nope")
    with pytest.raises(CommandError, match="no model named 'nope'"):
        run("from-log", "nope", "--name", "h", "--user", "maintainer")
