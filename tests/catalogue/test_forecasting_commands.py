"""The CLI creates forecasting models with their metrics horizon: ``add_model --horizon H`` and a deploy config's
``[model.options]``, as the REST API's ``"options": {"horizon": H}`` does; and refuses what does not apply."""

import io
import re
from pathlib import Path

import dill
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from river import time_series

from catalogue import deploy_config
from catalogue.errors import InvalidInput
from catalogue.models import MLModel, ModelVersion

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def forecaster(tmp_path) -> Path:
    path = tmp_path / "sales.dill"
    path.write_bytes(dill.dumps(time_series.SNARIMAX(p=1, d=0, q=0)))
    return path


def test_add_model_with_a_horizon_creates_a_forecaster_with_that_metrics_horizon(forecaster):
    # When a forecaster is added with --horizon 3
    output = run("add_model", str(forecaster), "--name", "sales", "--flavor", "forecasting", "--horizon", "3")
    # Then the model keeps 3 as its options' horizon, as {"options": {"horizon": 3}} over REST would
    assert "created model sales (forecasting, metrics horizon 3)" in output
    assert MLModel.objects.get(name="sales").options == {"horizon": 3}
    assert ModelVersion.objects.filter(model__name="sales", number=1).exists()


def test_add_model_without_a_horizon_gives_a_forecaster_the_default_of_12(forecaster):
    output = run("add_model", str(forecaster), "--name", "sales", "--flavor", "forecasting")
    assert "metrics horizon 12" in output
    assert MLModel.objects.get(name="sales").options == {"horizon": 12}


@pytest.mark.parametrize("value", ["0", "1001", "three", "1.5"])
def test_add_model_refuses_a_horizon_out_of_range_before_anything_is_stored(forecaster, value):
    with pytest.raises(CommandError, match=r"--horizon: a whole number from 1 to 1000"):
        run("add_model", str(forecaster), "--name", "sales", "--flavor", "forecasting", "--horizon", value)
    assert not MLModel.objects.exists()


def test_add_model_refuses_a_horizon_for_a_model_of_another_flavor(tmp_path, regressor_bytes):
    path = tmp_path / "model.dill"
    path.write_bytes(regressor_bytes)
    with pytest.raises(CommandError, match=r"a regression model has no option 'horizon' \(it takes none\)"):
        run("add_model", str(path), "--name", "taxi", "--flavor", "regression", "--horizon", "3")
    assert not MLModel.objects.exists()


def test_add_model_refuses_another_horizon_for_an_existing_model(forecaster, tmp_path):
    # Given a forecaster created with horizon 3
    run("add_model", str(forecaster), "--name", "sales", "--flavor", "forecasting", "--horizon", "3")
    other = tmp_path / "other.dill"
    other.write_bytes(dill.dumps(time_series.SNARIMAX(p=2, d=0, q=0)))
    # When a next version is added asking for horizon 5, then it is refused and nothing is stored
    with pytest.raises(CommandError, match=r"sales already exists and its horizon is 3, fixed for its life"):
        run("add_model", str(other), "--name", "sales", "--horizon", "5")
    assert ModelVersion.objects.filter(model__name="sales").count() == 1
    # The same horizon again is no change: the version is added
    assert "sales v2" in run("add_model", str(other), "--name", "sales", "--horizon", "3")


FORECAST_CONFIG = """
[model]
name = "sales"
flavor = "forecasting"

[model.options]
horizon = 4

[artifact]
path = "sales.dill"
"""


def test_a_deploy_config_sets_a_forecaster_s_horizon(forecaster):
    (forecaster.parent / "deploy.toml").write_text(FORECAST_CONFIG)
    output = run("deploy", str(forecaster.parent / "deploy.toml"))
    assert "created model sales (forecasting)" in output
    assert MLModel.objects.get(name="sales").options == {"horizon": 4}


def test_a_deploy_config_asking_another_horizon_of_an_existing_model_is_refused(forecaster):
    config = forecaster.parent / "deploy.toml"
    config.write_text(FORECAST_CONFIG)
    run("deploy", str(config))
    other = forecaster.parent / "sales.dill"
    other.write_bytes(dill.dumps(time_series.SNARIMAX(p=2, d=0, q=0)))
    config.write_text(FORECAST_CONFIG.replace("horizon = 4", "horizon = 6"))
    with pytest.raises(CommandError, match=r"model.options: sales's options are fixed at its creation"):
        run("deploy", str(config))
    assert ModelVersion.objects.filter(model__name="sales").count() == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("[model.options]\nhorizon = 0", "options.horizon must be a whole number from 1 to 1000, not 0"),
        ("[model.options]\nhorizon = true", "options.horizon must be a whole number from 1 to 1000, not True"),
        ("[model.options]\nseason = 7", "a forecasting model has no option 'season' (it takes: horizon)"),
        ("options = 5", "model.options must be a table, like options = { horizon = 24 }, not 5"),
    ],
)
def test_bad_options_in_a_deploy_config_name_the_key(options, message):
    text = FORECAST_CONFIG.replace("[model.options]\nhorizon = 4", options)
    with pytest.raises(InvalidInput, match=re.escape(message)) as error:
        deploy_config.parse(text)
    assert error.value.field == "model.options"


def test_options_of_a_regression_model_in_a_deploy_config_are_refused():
    text = FORECAST_CONFIG.replace('flavor = "forecasting"', 'flavor = "regression"')
    with pytest.raises(InvalidInput, match=r"a regression model has no option 'horizon' \(it takes none\)"):
        deploy_config.parse(text)
