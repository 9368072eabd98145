"""The CLI of challengers and the canary: manage.py challengers and manage.py canary."""

import io

import dill
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from river import linear_model, preprocessing

import serving
from catalogue import services
from catalogue.models import Challenger, Deployment, MLModel
from tests import factories

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def taxi(db):
    model = factories.MLModelFactory(name="taxi")
    for obj in (
        preprocessing.StandardScaler() | linear_model.LinearRegression(),
        preprocessing.MaxAbsScaler() | linear_model.LinearRegression(),
    ):
        version = factories.ModelVersionFactory(model=model, artifact=dill.dumps(obj))
    services.deployment_promote(version=model.versions.get(number=1))
    factories.UserFactory(username="ops")
    return version


def test_adding_listing_and_removing_a_challenger(taxi):
    assert "taxi v2 is a challenger" in run("challengers", "taxi", "add", "2", "--user", "ops", "--note", "maxabs")
    serving.learn(model="taxi", features={"x": 1.0}, ground_truth=2.0)
    table = run("challengers", "taxi").splitlines()
    assert table[0].split() == ["VERSION", "ROLE", "LEARNED", "METRICS"]
    assert table[1].split()[:3] == ["v1", "production", "1"]
    assert table[2].split()[:3] == ["v2", "challenger", "1"]
    deployment = Deployment.objects.filter(action="add_challenger").get()
    assert (deployment.user.username, deployment.note) == ("ops", "maxabs")
    assert "no longer a challenger" in run("challengers", "taxi", "remove", "2", "--user", "ops")
    assert not Challenger.objects.exists()
    assert "has no challengers" in run("challengers", "taxi", "list")


def test_challenger_commands_refuse_clearly(taxi):
    with pytest.raises(CommandError, match="in production"):
        run("challengers", "taxi", "add", "1", "--user", "ops")
    with pytest.raises(CommandError, match="needs a version number"):
        run("challengers", "taxi", "add")
    with pytest.raises(CommandError, match="not a challenger"):
        run("challengers", "taxi", "remove", "2", "--user", "ops")
    with pytest.raises(CommandError, match="no model named 'ghost'"):
        run("challengers", "ghost")


def test_setting_showing_and_ending_a_canary(taxi):
    assert "taxi has no canary" in run("canary", "taxi")
    assert "taxi v2 answers 25% of predictions" in run("canary", "taxi", "set", "2", "25", "--user", "ops")
    assert "taxi v2 answers 25% of predictions" in run("canary", "taxi", "show")
    assert MLModel.objects.get(name="taxi").canary_percent == 25
    assert "production answers every prediction" in run("canary", "taxi", "end", "--user", "ops")
    assert MLModel.objects.get(name="taxi").canary_version is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("set", "2", "0"), "percent must be a number above 0"),
        (("set", "2", "many"), "percent must be a number above 0"),
        (("set", "2"), "needs a version and a percent"),
        (("set", "1", "5"), "in production"),
        (("end",), "no canary"),
    ],
)
def test_canary_commands_refuse_clearly(taxi, args, message):
    with pytest.raises(CommandError, match=message):
        run("canary", "taxi", *args, "--user", "ops")
