"""Fixtures shared by the monitoring tests."""

import dill
import pytest
from river import linear_model, preprocessing

from catalogue import services
from tests import factories


@pytest.fixture
def live():
    """A model named "live" whose production version is a scaled linear regression."""
    model = factories.MLModelFactory(name="live")
    obj = preprocessing.StandardScaler() | linear_model.LinearRegression()
    version = factories.ModelVersionFactory(model=model, artifact=dill.dumps(obj))
    services.deployment_promote(version=version)
    return model
